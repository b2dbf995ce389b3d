"""Bad configs fail before anything compiles, naming the key and what is valid."""

import os

import jax
import pytest

from mmjax import experiment, train
from mmjax.registry import ConfigError
from tests import toy
from tests.scripts import ROOT


def fit(c, tmp_path, problem=toy.contrastive_problem):
  init_fn, loss_fn, make_batch = problem()
  return train.fit(c, str(tmp_path), init_fn=init_fn, loss_fn=loss_fn,
                   train_data=toy.batches(make_batch, toy.config()))


def test_locked_config_rejects_misspelt_key():
  cfg = experiment.load_config_module(os.path.join(ROOT, "configs/contrastive.py"))
  c = cfg.get_config("tiny")
  with pytest.raises(AttributeError, match='Did you mean "total_steps"'):
    c.total_step = 3
  with pytest.raises(ValueError, match="Unknown preset 'tiyn'; valid: .*tiny"):
    cfg.get_config("tiyn")


@pytest.mark.parametrize("key,value,message", [
    ("parallelism", "pjit", "parallelism='pjit' is not valid. Valid choices: jit, pmap"),
    ("optimizer.name", "adam", "optimizer.name='adam' is not valid. Valid choices: adamw, sgd"),
    ("schedule.name", "cos", "Valid choices: constant, cosine, linear"),
    ("compute_dtype", "float16", "Valid choices: float32, bfloat16"),
    ("batch_size", 12, "batch_size=12 is not divisible by the number of devices \\(8\\)"),
    ("grad_accum_steps", 3, "grad_accum_steps=3 does not divide"),
    ("total_steps", 0, "total_steps=0 must be an integer >= 1"),
    ("data_workers", -1, "data_workers=-1 must be an integer >= 0"),
])
def test_invalid_values_fail_fast(tmp_path, key, value, message):
  c = toy.config(**{key: value})
  with pytest.raises(ConfigError, match=message):
    fit(c, tmp_path)
  assert not (tmp_path / "checkpoints").exists()  # failed before building anything.


def test_unknown_key_is_named_with_suggestion(tmp_path):
  c = toy.config()
  c.optimizer.weight_decy = 0.1
  with pytest.raises(ConfigError, match=r"Unknown config key 'optimizer.weight_decy'.*"
                                        r'Did you mean "optimizer.weight_decay"'):
    fit(c, tmp_path)


def test_fsdp_needs_jit(tmp_path):
  with pytest.raises(ConfigError, match="fsdp=True needs parallelism='jit'"):
    fit(toy.config(fsdp=True, parallelism="pmap"), tmp_path)


def test_unknown_component_and_option_names():
  from mmjax.models import TwoTower
  from mmjax.tasks import image_text
  # The experiment layer's errors name the config key ...
  m = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:tiny")).model
  with m.unlocked():
    m.image.name = "vtt"
  with pytest.raises(ConfigError, match=r"Unknown image encoder model.image.name='vtt'. "
                                        r"Valid choices: cnn, resnet, vit.*Did you mean \"vit\""):
    image_text.two_tower(m, vocab_size=50, text_len=8)
  with m.unlocked():
    m.image.name = "vit"
    m.image.vit.patch = 4
  with pytest.raises(ConfigError, match=r"model.image.vit has no option 'patch'. Valid options: "
                                        r".*patch_size"):
    image_text.two_tower(m, vocab_size=50, text_len=8)
  # ... and a model built with plain arguments names the component, not a config path.
  x, t = jax.numpy.zeros((1, 16, 16, 3)), jax.numpy.zeros((1, 8), "int32")
  with pytest.raises(ConfigError, match=r"^Unknown image encoder 'vtt'. Valid choices: cnn, "
                                        r"resnet, vit.*Did you mean \"vit\""):
    TwoTower(image_encoder="vtt").init(jax.random.key(0), x, t)
  with pytest.raises(ConfigError, match=r"^image encoder 'vit' has no option 'patch'. Valid "
                                        r"options: .*patch_size"):
    TwoTower(image=dict(patch=4)).init(jax.random.key(0), x, t)
  from mmjax.losses.contrastive import CONTRASTIVE_LOSSES
  with pytest.raises(ConfigError, match="Valid choices: sigmoid, softmax"):
    CONTRASTIVE_LOSSES.get("infonce", "model.loss")


def test_with_data_fields_fills_only_what_the_component_takes_and_the_config_leaves_unset():
  from mmjax.models import AUDIO_ENCODERS, TEXT_ENCODERS
  filled = TEXT_ENCODERS.with_data_fields("transformer", {"width": 32, "max_len": 8},
                                          vocab_size=100, max_len=16, sample_rate=8000.0)
  assert filled == {"width": 32, "max_len": 8, "vocab_size": 100}  # the config's max_len wins
  assert TEXT_ENCODERS.with_data_fields("bag_of_words", {}, vocab_size=100, max_len=16) == {
      "vocab_size": 100}  # a bag of words has no max_len
  assert "sample_rate" in AUDIO_ENCODERS.with_data_fields("ast", {}, sample_rate=8000.0)
  with pytest.raises(ConfigError, match="Unknown text encoder model.text_encoder='bow'"):
    TEXT_ENCODERS.with_data_fields("bow", {}, "model.text_encoder", vocab_size=100)


@pytest.mark.parametrize("override,message", [
    ("--config.steps=200", r"Unknown config key 'steps'; valid: .*total_steps.*"
                           r'Did you mean "total_steps"\?'),
    ("--config.model.lossx=1",
     r"Unknown config key 'model.lossx'; valid under 'model': embed_dim, image, loss"),
    ("--config.total_steps.x=1", r"'total_steps' is a value, not a section"),
])
def test_command_line_unknown_key_names_the_valid_ones(override, message):
  config = os.path.join(ROOT, "configs/contrastive.py")
  for argv in (["--config", config + ":tiny", override], [f"--config={config}:tiny", override]):
    with pytest.raises(ConfigError, match=message):
      experiment._check_command_line_keys(["contrastive.py", "--workdir=w"] + argv)
  experiment._check_command_line_keys(["contrastive.py", f"--config={config}:tiny",
                                       "--config.total_steps=5", "--config.model.loss=sigmoid"])


def test_a_mistyped_key_reads_the_same_on_the_command_line_in_a_sweep_and_in_the_trainer():
  from mmjax import config_keys
  from mmjax.sweep.spec import SweepError, check_key
  from mmjax.train import config as train_config
  config = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py") + ":tiny")
  message = ("Unknown config key 'optimizer.lrr'; valid under 'optimizer': b1, b2, decay_mask, "
             "eps, frozen, grad_clip_norm, lr, momentum, name, nesterov, weight_decay. "
             'Did you mean "optimizer.lr"?')
  with pytest.raises(ConfigError) as command_line:
    experiment.get_config(os.path.join(ROOT, "configs/contrastive.py"), {"optimizer.lrr": 1.0})
  with pytest.raises(SweepError) as sweep:
    check_key(config, "optimizer.lrr", "grid")
  with config.unlocked():
    config.optimizer.lrr = 1.0
  with pytest.raises(ConfigError) as trainer:
    train_config.validate(config)
  assert str(command_line.value) == str(trainer.value) == message
  assert str(sweep.value) == "grid: " + message
  # A key typed without its section is found by its ending; a misspelt section by its name.
  with pytest.raises(ConfigError, match=r"'embed_dim'; valid: .* Did you mean \"model.embed_dim\""):
    config_keys.find(config, "embed_dim")
  with pytest.raises(ConfigError, match=r"Unknown config key 'modle'; .*Did you mean \"model\""):
    config_keys.find(config, "modle.loss")
  assert config_keys.find(config, "model.image.name") == (config.model.image, "name")
