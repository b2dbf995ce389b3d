"""tfds video sources on mock data (nothing is downloaded): ucf101 serves sampled, resized
frames and labels to the video experiment's batches; moving_mnist its grey digits as RGB."""

import ml_collections
import numpy as np
import pytest
import tensorflow_datasets as tfds

from experiments import video_classification
from mmjax.data import sources
from mmjax.data.tfds import load
from mmjax.data.video_ops import sample_indices
from mmjax.registry import ConfigError

NUM_MOCK = 4


@pytest.fixture(scope="module")
def mock_tfds():
  with tfds.testing.mock_data(num_examples=NUM_MOCK, policy=tfds.testing.MockPolicy.USE_CODE):
    yield


def build(name, **options):
  return sources.build(ml_collections.ConfigDict(dict(
      seed=0, image_size=16, source=dict(name=name, **{name: options}))))


def test_ucf101_feeds_the_video_experiment(mock_tfds):
  ucf = build("ucf101", frames=4)
  assert ucf.size("test") == NUM_MOCK and len(ucf.class_names()) == 101
  config = ml_collections.ConfigDict(dict(data=dict(label="label",
                                                    source=dict(name="ucf101"))))
  info = video_classification.task_info(config, ucf, ("video",))
  assert info["num_classes"] == 101 and info["chance"] >= 1 / NUM_MOCK
  batch = video_classification.batch_maker(ucf, "test", ("video",), "label")([0, 3])
  assert batch["video"].shape == (2, 4, 16, 16, 3) and batch["video"].dtype == np.float32
  assert batch["label"].tolist() == ucf.labels("test")[[0, 3]].tolist()
  with pytest.raises(ConfigError, match="data.source.ucf101 .*num_frames=0"):
    build("ucf101", frames=0)


def test_moving_mnist_serves_the_sampled_frames_as_rgb(mock_tfds):
  mm = build("moving_mnist", frames=5, frame_stride=4, image_size=64)
  video = mm.example("val", 1, ("video",))["video"]
  # The frames tfds itself decodes (PNG: lossless), at the sampled indices, grey -> RGB.
  whole = list(tfds.as_numpy(load.load("moving_mnist", "test[80%:90%]")))[1]["image_sequence"]
  expected = whole[sample_indices(len(whole), 5, 4)].astype(np.float32) / 255.0
  np.testing.assert_array_equal(video, np.repeat(expected, 3, axis=-1))
  with pytest.raises(ConfigError, match="moving_mnist serves video, key; this experiment also "
                     "reads label"):
    mm.require(["video", "label"])
