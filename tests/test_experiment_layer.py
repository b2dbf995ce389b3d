"""The experiment layer's shared pieces: config files and overrides, the one convention for
choosing a component, multi-stage configs, and what evaluate may return."""

import json
import os

import ml_collections
import numpy as np
import pytest

from mmjax import experiment, models, train
from mmjax.registry import ConfigError
from mmjax.sweep.spec import short_labels
from mmjax.train import stages
from tests.scripts import ROOT


def test_get_config_applies_overrides_and_names_unknown_keys():
  c = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:tiny"),
                            {"optimizer.lr": 0.5, "total_steps": 7})
  assert c.optimizer.lr == 0.5 and c.total_steps == 7
  with pytest.raises(ConfigError,
                     match="Unknown config key 'optimizer.lrr'; valid under 'optimizer': .*lr"):
    experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:tiny"),
                          {"optimizer.lrr": 0.5})
  with pytest.raises(ConfigError, match="expected a Python file"):
    experiment.get_config("configs/contrastive")
  with pytest.raises(FileNotFoundError, match="does not exist"):
    experiment.get_config("no/such/config.py")


def test_load_run_config_gives_tuples_back(tmp_path):
  (tmp_path / "config.json").write_text(json.dumps({"a": [1, [2, 3]], "b": {"c": [4]}}))
  c = experiment.load_run_config(str(tmp_path))
  assert c.a == (1, (2, 3)) and c.b.c == (4,)
  with pytest.raises(FileNotFoundError, match="config.json does not exist"):
    experiment.load_run_config(str(tmp_path / "none"))


def test_write_results(tmp_path):
  experiment.write_results(str(tmp_path / "run"), {"accuracy": 0.5})
  assert json.loads((tmp_path / "run" / "results.json").read_text()) == {"accuracy": 0.5}


def section(**values):
  return ml_collections.ConfigDict(values)


def test_choose_returns_the_chosen_options_with_data_fields():
  s = section(name="transformer", transformer=dict(width=32, depth=1, num_heads=2, mlp_dim=64),
              gru=dict(width=8, hidden=8))
  name, options = models.TEXT_ENCODERS.choose(s, "model.text", vocab_size=50, max_len=12,
                                              sample_rate=8000.0)
  assert name == "transformer"
  # The data fills what the encoder takes and the config leaves unset; nothing else.
  assert options == dict(width=32, depth=1, num_heads=2, mlp_dim=64, vocab_size=50, max_len=12)
  s.transformer.max_len = 8  # the config wins over the data
  assert models.TEXT_ENCODERS.choose(s, "model.text", max_len=12)[1]["max_len"] == 8
  # A choice without an options dict takes its defaults.
  assert models.FUSIONS.choose(section(name="sum"), "model.fusion") == ("sum", {})


def test_choose_errors_name_the_config_key():
  with pytest.raises(ConfigError, match=r"Unknown fusion model.fusion.name='gatd'.*Valid "
                                        r"choices: .*gated.*Did you mean \"gated\""):
    models.FUSIONS.choose(section(name="gatd", gated=dict(dim=8)), "model.fusion")
  with pytest.raises(ConfigError, match=r"model.fusion.gated has no option 'dimm'.*Did you "
                                        r"mean \"dim\""):
    models.FUSIONS.choose(section(name="gated", gated=dict(dimm=8)), "model.fusion")
  with pytest.raises(ConfigError, match=r"model.fusion has no 'name'"):
    models.FUSIONS.choose(section(gated=dict(dim=8)), "model.fusion")


def multi_stage():
  c = stages.base()
  c.data = ml_collections.ConfigDict(dict(image_size=16))
  c.eval = ml_collections.ConfigDict(dict(batch_size=4))
  c.stages = ml_collections.ConfigDict(dict(
      pretrain=stages.stage(dict(width=8), batch_size=16, optimizer=dict(lr=0.1)),
      finetune=stages.stage(dict(head=2), total_steps=30, schedule=dict(warmup_steps=3))))
  return c


def test_stage_configs_follow_one_rule():
  c = multi_stage()
  c.compute_dtype = "bfloat16"  # run-wide: every stage
  c.stages.finetune.optimizer.weight_decay = 0.5  # that stage only
  out = stages.configs(c)
  assert sorted(out) == ["finetune", "pretrain"]
  pre, fine = out["pretrain"], out["finetune"]
  assert pre.compute_dtype == fine.compute_dtype == "bfloat16"
  assert pre.optimizer.lr == 0.1
  assert pre.optimizer.weight_decay == train.defaults().optimizer.weight_decay
  assert fine.optimizer.weight_decay == 0.5 and fine.optimizer.lr == train.defaults().optimizer.lr
  assert pre.batch_size == 16 and fine.total_steps == 30 and fine.schedule.warmup_steps == 3
  assert pre.model.width == 8 and fine.model.head == 2
  assert fine.data.image_size == 16 and fine.eval.batch_size == 4 and not fine.eval_only
  train.validate(fine)  # a complete trainer config
  assert list(stages.configs(c, ["finetune"])) == ["finetune"]


def test_stage_errors_name_the_stage_key():
  c = multi_stage()
  c.stages.finetune.total_steps = 0
  with pytest.raises(ConfigError, match="stages.finetune: total_steps=0 must be an integer"):
    stages.configs(c)
  message = "stages has no 'lit'; the config's stages: finetune, pretrain"
  with pytest.raises(ConfigError, match=message):
    stages.configs(multi_stage(), ["lit"])
  c = multi_stage()
  with c.stages.pretrain.unlocked():
    c.stages.pretrain.seed = 3
  with pytest.raises(ConfigError, match="stages.pretrain.seed: seed is one per run"):
    stages.configs(c)


def test_scalars_keep_numbers_only():
  metrics = {"a": 1.0, "b": np.float32(2.0), "c": np.array(3.0), "d": np.zeros((2, 2)),
             "e": ["x"], "f": {"g": 1}, "h": 4}
  assert sorted(train.scalars(metrics)) == ["a", "b", "c", "h"]


def test_sweep_labels_read_a_component_name_as_the_component():
  labels = short_labels(["preset", "model.fusion.name", "model.encoders.image.name", "seed"])
  assert labels == {"preset": "preset", "model.fusion.name": "fusion",
                    "model.encoders.image.name": "image", "seed": "seed"}


def test_defaults_and_smoke_merge_nested_sections():
  c = train.defaults(batch_size=8, optimizer=dict(lr=0.5))
  assert c.batch_size == 8 and c.optimizer.lr == 0.5
  assert c.optimizer.weight_decay == train.defaults().optimizer.weight_decay
  c.update(train.smoke(32, 6, checkpoint=dict(every_steps=3)))
  assert (c.batch_size, c.total_steps, c.log_every_steps) == (32, 6, 2)
  assert c.checkpoint.every_steps == 3 and c.checkpoint.keep == train.defaults().checkpoint.keep
  assert c.schedule.warmup_steps == 1
  train.validate(c)


def test_an_experiment_names_the_sources_it_reads(tmp_path):
  from experiments import contrastive
  config = experiment.get_config(os.path.join(ROOT, "configs/contrastive.py:tiny"),
                                 {"data.source.name": "av_mnist"})
  with pytest.raises(ConfigError, match="data.source.name='av_mnist': this experiment reads "
                     r"shapes, manifest, coco_captions \(registered: av_mnist, clips, "
                     r"coco_captions, manifest, moving_mnist, shapes, ucf101\)"):
    contrastive.run(config, str(tmp_path))
  assert os.listdir(tmp_path) == []  # failed before writing anything
