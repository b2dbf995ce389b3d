"""mmjax: multimodal models in JAX, trained from ml_collections configs."""

__version__ = "0.1.0"
