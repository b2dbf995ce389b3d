"""mmjax.tasks.classification, the multimodal classification the fusion, AV-MNIST and VQA
experiments and the evaluation suite share: modality lists, the model from config (every key
named in errors, data fields filled), batches of the synthetic world, predictions in padded
batches, the loss."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.data import sources
from mmjax.data.tokenizer import WordTokenizer
from mmjax.registry import ConfigError
from mmjax.tasks import classification
from tests.scripts import preset


def test_names_are_split_at_commas_and_checked():
  assert classification.names_of(("image,audio",), ("image", "audio"), "k") == ("image", "audio")
  assert classification.names_of(("text", " image"), ("image", "text"), "k") == ("text", "image")
  for bad in (("image,image",), (), ("video",)):
    with pytest.raises(ConfigError, match=r"model.inputs=.*valid: a non-empty subset"):
      classification.names_of(bad, ("image",), "model.inputs")


def test_encoder_choices_offer_every_alternative_and_replace_some():
  section = classification.encoder_choices("image", "cnn", cnn=dict(channels=(4,)))
  assert section["name"] == "cnn" and section["cnn"] == {"channels": (4,)}
  assert set(section) == {"name", *classification.SMALL_ENCODERS["image"]}
  section["vit"]["width"] = 1  # a copy: the next config is not changed
  assert classification.encoder_choices("image", "vit")["vit"]["width"] == 64


def test_components_fill_data_fields_and_name_bad_keys():
  config = preset("configs/fusion.py:tiny", **{"model.encoders.text.name": "transformer",
                                               "model.encoders.audio.name": "spec_cnn"})
  c = classification.components(config, ("image", "text", "audio"), vocab_size=30)
  text, audio = c["encoders"]["text"], c["encoders"]["audio"]
  assert text["name"] == "transformer" and (text["vocab_size"], text["max_len"]) == (30, 16)
  assert audio["name"] == "spec_cnn" and audio["sample_rate"] == 8000.0
  assert "sample_rate" not in c["encoders"]["image"]  # only what an encoder takes
  assert (c["fusion"], c["fusion_options"]) == ("concat_late", {"dim": 16})
  assert (c["head"], c["head_options"]) == ("classification", {"hidden": (16,), "dropout": 0.1})
  for key, value, match in (
      ("model.encoders.image.name", "cnnn", "model.encoders.image.name='cnnn'"),
      ("model.fusion.name", "gatd", 'model.fusion.name=.gatd.*Did you mean "gated"'),
      ("model.head.name", "regresion", "model.head.name='regresion'")):
    with pytest.raises(ConfigError, match=match):
      classification.components(preset("configs/fusion.py:tiny", **{key: value}), ("image",))
  config = preset("configs/fusion.py:tiny")
  config.model.fusion.unlock()
  config.model.fusion.concat_late.dimm = 3
  with pytest.raises(ConfigError, match="model.fusion.concat_late has no option 'dimm'"):
    classification.components(config, ("image",))


def test_batches_of_the_labelled_task_and_a_source_without_one():
  config = preset("configs/fusion.py:tiny")
  world = sources.build(config.data)
  assert classification.labelled_task(config.data, world)[0] == "redundant"
  tokenizer = WordTokenizer.build([" ".join(world.vocabulary())])
  batch = classification.batch_maker(world, "test", ("image", "text", "audio"), tokenizer,
                                     16)(np.arange(3))
  assert batch["label"].dtype == np.int32 and batch["label"].shape == (3,)
  assert batch["image"].dtype == np.float32 and batch["image"].shape == (3, 32, 32, 3)
  np.testing.assert_allclose(sources.denormalize(batch["image"][0]),
                             world.example("test", 0, ("image",))["image"], atol=1e-6)
  assert batch["text"].shape == (3, 16) and batch["audio"].shape == (3, 12000)
  assert classification.bayes_for(world.task.info(), ("text", "audio")) == 0.8125
  config = preset("configs/vqa.py:tiny")  # its world has no labelled task
  with pytest.raises(ConfigError, match=r"data.source.shapes.task: .*needs a labelled task"):
    classification.labelled_task(config.data, sources.build(config.data))


def test_predictions_in_padded_batches_and_the_loss():
  config = preset("configs/fusion.py:tiny", **{"model.modalities": ("text",),
                                               "model.head.classification.dropout": 0.0})
  model = classification.classifier(config, ("text",), 3, vocab_size=12)
  x = {"text": np.random.default_rng(0).integers(4, 12, (7, 5)).astype(np.int32)}
  variables = {"params": classification.init_fn(model, x)(jax.random.key(0))[0]}
  shapes = []

  def predict(v, batch):
    shapes.append(batch["text"].shape)
    return classification.predictor(model, probabilities=True)(v, batch)
  probs = classification.in_batches(predict, variables, x, batch_size=3)
  assert shapes == [(3, 5)] * 3  # 7 rows in 3 batches of 3: one compile
  np.testing.assert_allclose(probs, jax.nn.softmax(model.apply(variables, x)), atol=1e-6)
  ids = classification.in_batches(classification.predictor(model), variables,
                                  lambda idx: {"text": x["text"][idx]}, 4, num_examples=7)
  np.testing.assert_array_equal(ids, probs.argmax(-1))
  loss_fn = classification.loss_fn(model, ("text",), config.model)
  batch = dict(x, label=np.array([0, 1, 2, 0, 1, 2, 0], np.int32))
  loss, (metrics, state) = loss_fn(variables["params"], {}, batch, jax.random.key(1), None)
  logits = model.apply(variables, x)
  expected = -jnp.mean(jax.nn.log_softmax(logits)[np.arange(7), batch["label"]])
  np.testing.assert_allclose(loss, expected, rtol=1e-6)
  assert float(metrics["aux_loss"]) == 0.0 and state == {}
  assert float(metrics["accuracy"]) == np.mean(logits.argmax(-1) == batch["label"])
