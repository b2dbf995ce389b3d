"""Real datasets from tensorflow-datasets, never downloaded at run time (prepare them once with
`tfds build NAME --data_dir DIR`). Chosen by name from the config:

  source = TFDS_SOURCES.build(config.data.source, **config.data.options)

  coco_captions         image-text pairs, streamed per process   (CocoCaptions)
  av_mnist              MNIST digit + spoken digit, degradable   (AVMnist)
  image_classification  cifar10, mnist, ... + zero-shot prompts  (ImageClassification)
"""

from mmjax.data.tfds.av_mnist import AVMnist
from mmjax.data.tfds.coco_captions import CocoCaptions
from mmjax.data.tfds.image_classification import ImageClassification
from mmjax.registry import Registry

TFDS_SOURCES = Registry("tfds source")
TFDS_SOURCES.register("coco_captions")(CocoCaptions)
TFDS_SOURCES.register("av_mnist")(AVMnist)
TFDS_SOURCES.register("image_classification")(ImageClassification)
