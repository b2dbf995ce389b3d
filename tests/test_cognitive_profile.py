"""The cognitive-ability profile: its table and files, and profiles of tiny VQA and fusion runs
that reproduce the experiments' own per-ability numbers, beside the right chance."""

import json

import numpy as np
import pytest

from experiments import cognitive_profile, contrastive, fusion_classification, vqa
from mmjax.data.synthetic import task_info
from mmjax.data.synthetic.questions import vqa_info
from mmjax.data.synthetic.scenes import INVERSE
from mmjax.evaluate import cognitive
from mmjax.registry import ConfigError
from tests.scripts import preset


def test_table_orders_abilities_and_says_why_one_is_missing(tmp_path):
  profile = {"abilities": {"counting": cognitive.ability(0.75, 0.5, 40, "count questions"),
                           "perception/colour": cognitive.ability(0.9, 1 / 6, 30, "colour"),
                           "calibration": cognitive.ability(0.04, None, 70, "ECE")},
             "not_measured": {"cross_modal": "no such task"}}
  lines = cognitive.profile_table(profile).splitlines()
  assert lines[2] == "| perception/colour | 0.900 | 0.167 | 30 | colour |"
  assert lines[3].startswith("| counting | 0.750 | 0.500 | 40")
  assert lines[4] == "| cross_modal | - | - | - | not measured: no such task |"
  assert lines[5] == "| calibration | 0.040 | - | 70 | ECE |"
  cognitive.write_profile(profile, str(tmp_path / "p"), "a title")
  assert json.load(open(tmp_path / "p" / "profile.json")) == profile
  assert (tmp_path / "p" / "profile.png").read_bytes()[:4] == b"\x89PNG"
  with pytest.raises(ValueError, match="unknown abilities \\['memory'\\]; valid: perception"):
    cognitive.profile_table({"abilities": {"memory": cognitive.ability(1, 0, 1, "")}})
  with pytest.raises(ValueError, match="at least one test item"):
    cognitive.ability(1.0, 0.5, 0, "nothing")


def test_vqa_profile_reproduces_the_runs_per_type_accuracy(tmp_path):
  config = preset("configs/vqa.py:tiny")
  results = vqa.run(config, str(tmp_path))
  profile = cognitive_profile.profile(str(tmp_path), "vqa")
  a = profile["abilities"]
  for name, kind in cognitive_profile.PERCEPTION.items():
    # The same checkpoint, questions and scoring as the experiment's own results.
    assert a[name]["score"] == pytest.approx(results["per_type"][kind], abs=1e-6), name
    assert a[name]["n"] == results["count"][kind]
    assert a[name]["chance"] == pytest.approx(
        vqa_info(kind, config.data.source.shapes.max_objects)["unimodal_bayes"]["question"])
  assert a["compositional"]["score"] == pytest.approx(results["compositional/accuracy"])
  assert a["noise_robustness"]["n"] == results["num_test_examples"]
  assert 0.0 <= a["noise_robustness"]["score"] <= 1.0 and 0.0 <= a["calibration"]["score"] <= 1
  assert "cross_modal" in profile["not_measured"]
  table = (tmp_path / "profile" / "profile.md").read_text()
  assert table == cognitive.profile_table(profile) and "| spatial_relations |" in table
  assert (tmp_path / "profile" / "profile.png").exists()


def test_fusion_profile_names_the_ability_its_task_needs(tmp_path):
  config = preset("configs/fusion.py:tiny", total_steps=3, **{
      "checkpoint.every_steps": 3, "data.source.shapes.task.name": "agreement",
      "model.modalities": ("image", "text", "audio"),
      # experiments/evaluate.py's split sizes are eval.num_examples, for both test splits.
      "eval.compositional_examples": 48})
  results = fusion_classification.run(config, str(tmp_path))
  profile = cognitive_profile.profile(str(tmp_path), "fusion_classification")
  a = profile["abilities"]
  assert a["cross_modal"]["score"] == pytest.approx(results["accuracy"])
  assert a["cross_modal"]["chance"] == task_info("agreement")["chance"] == 0.5
  assert a["compositional"]["score"] == pytest.approx(results["compositional/accuracy"])
  assert "image gaussian_noise 0.3" in a["noise_robustness"]["measured_by"]
  assert "text token_replacement 0.25" in a["noise_robustness"]["measured_by"]
  assert set(profile["not_measured"]) == {"perception/colour", "perception/shape",
                                          "perception/size", "counting", "spatial_relations"}
  # The noise is seeded: the same seed, the same score.
  again = cognitive_profile.profile(str(tmp_path), "fusion_classification")
  assert again["abilities"]["noise_robustness"] == a["noise_robustness"]
  assert np.isfinite(a["calibration"]["score"])
  with pytest.raises(ConfigError, match="Valid choices: captioning, contrastive, fusion_"):
    cognitive_profile.profile(str(tmp_path), "speech_recognition")


def test_foils_change_only_what_the_ability_needs():
  from mmjax.data.synthetic import SceneWorld
  world, rng = SceneWorld(0, 32, 2), np.random.default_rng(0)
  for i in range(40):
    scene = world.scene("test", i)
    j = i % len(scene.captions())
    for kind in ("colour", "shape", "size", "relation", "count"):
      changed = cognitive.foil(scene, kind, rng)
      if changed is None:
        assert len(scene.objects) == 1 and kind in ("relation", "count")
        continue
      true, fake = scene.captions()[j].split(), changed.captions()[j].split()
      if kind == "count":
        assert len(changed.objects) == 1 and len(fake) < len(true)
      else:  # the same wording, one word changed
        assert len(true) == len(fake) and sum(a != b for a, b in zip(true, fake)) == 1, (
            kind, true, fake)


def test_contrastive_profile_scores_two_way_choices(tmp_path):
  config = preset("configs/contrastive.py:tiny")
  contrastive.run(config, str(tmp_path))
  profile = cognitive_profile.profile(str(tmp_path), "contrastive")
  a = profile["abilities"]
  n = config.eval.num_examples
  for name in ("perception/colour", "perception/shape", "perception/size",
               "noise_robustness"):
    assert a[name]["chance"] == 0.5 and a[name]["n"] == n and 0 <= a[name]["score"] <= 1
  from mmjax.data import sources
  world = sources.build(config.data)
  pairs = sum(len(world.scene("test", i).objects) == 2 for i in range(n))
  assert a["counting"]["n"] == a["spatial_relations"]["n"] == pairs > 0
  assert {"cross_modal", "calibration"} <= set(profile["not_measured"])


def test_a_caption_is_read_back_against_its_scene():
  from mmjax.data.synthetic import SceneWorld
  world = SceneWorld(0, 32, 2)
  scene = next(s for s in (world.scene("test", i) for i in range(50))
               if len(s.objects) == 2 and s.objects[0].shape != s.objects[1].shape)
  for caption in scene.captions():  # every paraphrase is right in every way
    assert all(cognitive.caption_correct(scene, caption).values()), caption
  a, b = scene.objects
  wrong = f"a {a.phrase} {INVERSE[scene.relation]} a {b.phrase}"
  got = cognitive.caption_correct(scene, wrong)
  assert got["relation"] is False and got["all"] and got["count"]
  other = "red" if a.colour != "red" else "green"
  got = cognitive.caption_correct(scene, f"a {a.size} {other} {a.shape}")
  assert not got["count"] and not got["colour"] and got["relation"] is None
  # A broken caption (a model's) is read, not rejected.
  got = cognitive.caption_correct(scene, f"a {a.size} {a.colour} {a.colour} of")
  assert not got["all"] and not got["shape"] and got["relation"] is None


def test_captioning_profile_reads_its_greedy_captions(tmp_path):
  from experiments import captioning
  config = preset("configs/captioning.py:tiny")
  captioning.run(config, str(tmp_path))
  profile = cognitive_profile.profile(str(tmp_path), "captioning")
  a = profile["abilities"]
  n = config.eval.num_examples
  from mmjax.data import sources
  world = sources.build(config.data)
  scenes = [world.scene("test", i) for i in range(n)]
  # The same checkpoint decodes the run's own greedy captions.
  said = profile["run"]["greedy_captions"]
  shown = json.load(open(tmp_path / "examples.json"))
  assert [r["greedy"] for r in shown] == said[:len(shown)] and len(said) == n
  right = [cognitive.caption_correct(s, c) for s, c in zip(scenes, said)]
  assert a["perception/colour"]["score"] == pytest.approx(np.mean([r["colour"] for r in right]))
  assert a["counting"]["score"] == pytest.approx(np.mean([r["count"] for r in right]))
  assert a["perception/shape"]["n"] == n and a["noise_robustness"]["n"] == n
  blind = profile["run"]["blind_caption"]
  assert a["counting"]["chance"] == pytest.approx(
      np.mean([len(s.objects) == len(blind.split(" of ")) for s in scenes]))
  assert {"cross_modal", "calibration"} <= set(profile["not_measured"])


def test_comparison_puts_a_run_per_column_and_readme_has_its_block():
  import os
  from mmjax.reproduce import tables
  one = {"abilities": {"counting": cognitive.ability(0.75, 0.5, 40, "count"),
                       "calibration": cognitive.ability(0.04, None, 70, "ECE")}}
  two = {"abilities": {"cross_modal": cognitive.ability(0.9, 0.5, 10, "synergy")}}
  lines = cognitive.comparison_table({"vqa": one, "fusion": two}).splitlines()
  assert lines[0] == "| ability | vqa | fusion |"
  assert lines[2:] == ["| counting | 0.750 (0.500) | - |", "| cross_modal | - | 0.900 (0.500) |",
                       "| calibration | 0.040 | - |"]
  readme = open(os.path.join(os.path.dirname(os.path.dirname(__file__)), "README.md")).read()
  assert "| ability | vqa (question+image) |" in tables.current_block(
      readme, *tables.markers("profile"))
