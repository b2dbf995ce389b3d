"""The built-in synthetic multimodal world: procedural, deterministic, no files needed."""

from mmjax.data.synthetic.scenes import SceneWorld, Scene
