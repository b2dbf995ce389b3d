"""Image encoders: images [batch, h, w, c] -> (pooled [batch, dim], tokens [batch, n, dim])."""

from mmjax.models import IMAGE_ENCODERS
from mmjax.models.image.cnn import ConvNet
from mmjax.models.image.resnet import ResNet
from mmjax.models.image.vit import ViT

IMAGE_ENCODERS.register("vit")(ViT)
IMAGE_ENCODERS.register("cnn")(ConvNet)
IMAGE_ENCODERS.register("resnet")(ResNet)
