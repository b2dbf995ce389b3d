"""Real datasets from tensorflow-datasets, never downloaded at run time (prepare them once with
`tfds build NAME --data_dir DIR`):

  CocoCaptions          image-text pairs, streamed per process; data source `coco_captions`
  AVMnist               MNIST digit + spoken digit, degradable;  data source `av_mnist`
  ImageClassification   cifar10, mnist, ... + zero-shot prompts (evaluation sets)
  TfdsVideo             ucf101 (actions), moving_mnist (unlabelled); data sources of the names

The data sources are entries of mmjax.data.sources.SOURCES, chosen by config.data.source.
"""

from mmjax.data.tfds.av_mnist import AVMnist
from mmjax.data.tfds.coco_captions import CocoCaptions, CocoCaptionsSource
from mmjax.data.tfds.image_classification import ImageClassification
from mmjax.data.tfds.video import TfdsVideo
