r"""Profiles a finished run's cognitive abilities (mmjax/evaluate/cognitive.py) and writes
<workdir>/profile/profile.json, profile.md (the table) and profile.png (a bar per ability, its
chance as a tick):

  python experiments/vqa.py --config configs/vqa.py --workdir runs/vqa
  python experiments/cognitive_profile.py --experiment vqa --workdir runs/vqa
  python experiments/cognitive_profile.py --experiment fusion_classification --workdir runs/fusion
  python experiments/cognitive_profile.py --experiment contrastive --workdir runs/contrastive

  vqa                    perception (colour, shape, size questions), counting, spatial relations
                         (relation questions), each beside its question-only Bayes accuracy;
                         compositional (questions on test_compositional scenes); noise
                         robustness (every question with the image noised); calibration (ECE of
                         the answer probabilities).
  captioning             its greedy captions of the test images read back: every object's
                         colour / shape / size, the number of objects, the relation word where
                         both objects are named right, beside a captioner blind to the image
                         (the commonest training caption); compositional and noise robustness:
                         every object described right, on test_compositional / noised images.
  contrastive            each test image chooses between its caption and a foil, the same
                         wording with only what the ability needs changed (another colour,
                         shape or size of the first object; the relation inverted; the first
                         object alone for counting): chance 0.5; compositional and noise
                         robustness the same way on test_compositional and on noised images.
  fusion_classification  the ability its task needs (redundant: shape perception; synergy and
                         agreement: cross-modal), beside the task's chance; compositional, noise
                         robustness (every perceptual modality noised at once) and calibration.

The run is rebuilt from its config.json, vocabulary and newest checkpoint, as
experiments/evaluate.py does (mmjax/evaluate/subject.py); another experiment is one adapter
`workdir, num_examples, seed -> profile` registered in PROFILES. Several runs at once
(`--experiment vqa,contrastive --workdir runs/vqa,runs/contrastive`) also print a comparison,
an ability per row and a run per column; --update_readme writes it, under a line naming the
command, the runs and the machine, between README.md's <!-- profile:begin/end --> markers.
"""

import collections
import os
import sys
import time
from typing import Optional

from absl import app, flags, logging
import jax.numpy as jnp
import numpy as np

from mmjax import experiment as experiment_lib, train
from mmjax.data import sources
from mmjax.data.synthetic import ANSWERS
from mmjax.data.synthetic.questions import vqa_info
from mmjax.data.tokenizer import WordTokenizer
from mmjax.evaluate import cognitive, robustness
from mmjax.evaluate.calibration import expected_calibration_error
from mmjax.evaluate.cognitive import ability, comparison_table, profile_table, write_profile
from mmjax.evaluate.subject import fusion_subject, pixel_noise
from mmjax.registry import ConfigError, Registry
from mmjax.reproduce import tables
from mmjax.tasks import captioning, classification, image_text
from mmjax.tasks.vqa import vqa_data

PROFILES = Registry("experiment")
# The noise of noise_robustness, one level per modality (evaluate.py sweeps these over levels):
# image pixel std (images in [0, 1]), audio SNR in dB, text: probability a word is replaced.
NOISE = {"image": 0.3, "audio": 0.0, "text": 0.25}
PERCEPTION = {"perception/colour": "colour", "perception/shape": "shape",
              "perception/size": "size", "counting": "count", "spatial_relations": "relation"}
# The ability each fusion task's label needs.
TASK_ABILITY = {"redundant": "perception/shape", "synergy": "cross_modal",
                "agreement": "cross_modal"}


def noised(inputs: dict, noises: dict, seed: int) -> dict:
  """inputs with each modality in `noises` ({name: fn(x, rng)}) noised, the rest as they are."""
  rng = np.random.default_rng(seed)
  return {k: noises[k](v, rng) if k in noises else v for k, v in inputs.items()}


def at_level(corruption: robustness.Corruption, level: float):
  """fn(x, rng): the corruption at one level."""
  return lambda x, rng: corruption.fn(x, level, rng)


@PROFILES.register("vqa")
def vqa_profile(workdir: str, num_examples: Optional[int] = None, seed: int = 0) -> dict:
  """A vqa.py run on the synthetic world: per-type accuracies beside the question-only Bayes."""
  config = experiment_lib.load_run_config(workdir)
  if num_examples:
    config.eval.num_examples = num_examples
  names = classification.inputs_of(config)
  world = sources.build(config.data, reads=("shapes",))
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  model = classification.vqa_model(config, names, len(ANSWERS), tokenizer.vocab_size)
  n_comp = sources.compositional_examples(world, config.eval.compositional_examples)
  _, test, comp = vqa_data(config, world, tokenizer, names, n_comp)
  state, step = train.restore_latest(config, workdir, classification.init_fn(
      model, {k: test[k] for k in names}))
  predict = classification.predictor(model, probabilities=True)
  probabilities = lambda split: classification.in_batches(
      predict, classification.variables_of(state), {k: split[k] for k in names},
      config.eval.batch_size)
  blind = lambda types: float(np.mean([vqa_info(t, world.max_objects)["unimodal_bayes"][
      "question"] for t in types]))  # what a model blind to the scene reaches at best

  probs = probabilities(test)
  right = probs.argmax(-1) == test["answer"]
  types = np.asarray(test["question_type"])
  abilities = {}
  for name, kind in PERCEPTION.items():
    mine = types == kind
    if mine.any():
      abilities[name] = ability(right[mine].mean(), blind([kind]), int(mine.sum()),
                                f"'{kind}' questions (chance: question-only Bayes)")
  if comp is not None:
    comp_right = probabilities(comp).argmax(-1) == comp["answer"]
    abilities["compositional"] = ability(comp_right.mean(), blind(comp["question_type"]),
                                         len(comp_right), "questions on test_compositional")
  noises = {"image": lambda x, rng: pixel_noise(x, NOISE["image"], rng),
            "audio": lambda x, rng: robustness.white_noise(x, NOISE["audio"], rng)}
  noisy = probabilities({**test, **noised({k: test[k] for k in names}, noises, seed)})
  abilities["noise_robustness"] = ability(
      np.mean(noisy.argmax(-1) == test["answer"]), blind(types), len(types),
      f"every question, image noise std {NOISE['image']:g}"
      + (f", audio at {NOISE['audio']:g} dB SNR" if "audio" in names else ""))
  abilities["calibration"] = ability(expected_calibration_error(probs, test["answer"]), None,
                                     len(types), "ECE of the answer probabilities")
  return {"abilities": abilities,
          "not_measured": {"cross_modal": "every VQA question needs the question and the "
                                          "image; the fusion tasks synergy and agreement "
                                          "measure it"},
          "run": {"experiment": "vqa", "workdir": os.path.abspath(workdir), "step": step,
                  "inputs": list(names), "fusion": config.model.fusion.name}}


@PROFILES.register("contrastive")
def contrastive_profile(workdir: str, num_examples: Optional[int] = None, seed: int = 0) -> dict:
  """A contrastive.py run on the synthetic world: each test image chooses between its caption
  and a foil that differs only in what the ability needs, in the same wording (Winoground-
  style two-way choice; chance 0.5): the higher image-text similarity wins."""
  config = experiment_lib.load_run_config(workdir)
  world = sources.build(config.data, reads=("shapes",))
  tokenizer = image_text.word_tokenizer(world, workdir)
  model = image_text.two_tower(config.model, tokenizer.vocab_size, config.data.text_len,
                               config.compute_dtype)
  tokens = lambda captions: tokenizer.encode_batch(captions, config.data.text_len)
  n = num_examples or config.eval.num_examples
  test = image_text.scenes(world, "test", n, captions=True)
  state, step = train.restore_latest(config, workdir, image_text.init_fn(
      model, test["images"][:1], tokens(test["captions"][:1])))
  bs = config.eval.batch_size
  embed_image = image_text.embed_images(model, bs)
  embed_text = image_text.embed_texts(model, tokens, bs)
  params = state.eval_params
  rng = np.random.default_rng(seed)

  def choices(split, images, captions, kinds):
    """Fraction of the images whose caption beats its foil, and how many had one."""
    pairs = None if split == "test_compositional" else world.pairs
    true, fake, rows = [], [], []
    for i, (caption, kind) in enumerate(zip(captions, kinds)):
      scene = world.scene(split, i)
      changed = cognitive.foil(scene, kind, rng, pairs)
      if changed is not None:
        j = scene.captions().index(caption)
        true.append(caption)
        fake.append(changed.captions()[j % len(changed.captions())])
        rows.append(i)
    if not rows:
      return None, 0
    zimg = embed_image(params, images[np.asarray(rows)])[0]
    s_true = np.sum(zimg * embed_text(params, true), -1)
    s_fake = np.sum(zimg * embed_text(params, fake), -1)
    return float(np.mean(s_true > s_fake)), len(rows)

  abilities, not_measured = {}, {}
  for name, kind in PERCEPTION.items():
    score, count = choices("test", test["images"], test["captions"], [kind] * len(test["keys"]))
    if count:
      abilities[name] = ability(score, 0.5, count, f"caption vs a foil with another {kind}"
                                if kind in ("colour", "shape", "size") else
                                {"count": "a two-object caption vs its first object's alone",
                                 "relation": "caption vs the relation inverted"}[kind])
    else:
      not_measured[name] = "the run's scenes have one object each"
  attributes = ("colour", "shape", "size")
  kinds = [attributes[i % 3] for i in range(len(test["keys"]))]
  noisy = pixel_noise(test["images"], NOISE["image"], np.random.default_rng(seed))
  score, count = choices("test", noisy, test["captions"], kinds)
  abilities["noise_robustness"] = ability(
      score, 0.5, count, f"colour / shape / size foils, image noise std {NOISE['image']:g}")
  n_comp = sources.compositional_examples(world, config.eval.compositional_examples)
  if n_comp:
    comp = image_text.scenes(world, "test_compositional", n_comp, captions=True)
    score, count = choices("test_compositional", comp["images"], comp["captions"],
                           [attributes[i % 2] for i in range(len(comp["keys"]))])
    abilities["compositional"] = ability(score, 0.5, count, "colour / shape foils on "
                                         "test_compositional")
  else:
    not_measured["compositional"] = "the run held out no (shape, colour) pairs"
  not_measured["cross_modal"] = ("every item matches an image with a caption; the fusion "
                                 "tasks synergy and agreement measure it")
  not_measured["calibration"] = "a two-tower model scores similarities, not class probabilities"
  return {"abilities": abilities, "not_measured": not_measured,
          "run": {"experiment": "contrastive", "workdir": os.path.abspath(workdir),
                  "step": step, "inputs": ["image", "text"], "loss": config.model.loss}}


@PROFILES.register("captioning")
def captioning_profile(workdir: str, num_examples: Optional[int] = None, seed: int = 0) -> dict:
  """A captioning.py run on the synthetic world: its greedy captions of the test images read
  back (`cognitive.caption_correct`), beside a captioner blind to the image, which always says the
  commonest training caption."""
  config = experiment_lib.load_run_config(workdir)
  world = sources.build(config.data, reads=("shapes",))
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  text_len, bs = config.data.text_len, config.eval.batch_size
  model = captioning.build_captioner(config.model, tokenizer.vocab_size, text_len,
                                     jnp.dtype(config.compute_dtype))
  n = num_examples or config.eval.num_examples
  images, _ = captioning.test_set(world, "test", n)
  s = config.data.image_size

  state, step = train.restore_latest(config, workdir, captioning.init_fn(model, s, text_len))
  greedy = captioning.captioner_fn(model, tokenizer, text_len)
  describe = lambda x: [tokenizer.decode(t) for t in captioning.caption_images(
      greedy, classification.variables_of(state), x, bs)]
  train_captions = [world.example("train", i, ("caption",))["caption"] for i in range(2000)]
  blind = collections.Counter(train_captions).most_common(1)[0][0]

  def scored(split, captions):
    """{kind: bool [n] or None per scene} of each caption against its scene."""
    rows = [cognitive.caption_correct(world.scene(split, i), c) for i, c in enumerate(captions)]
    return {k: [r[k] for r in rows] for k in rows[0]}

  def rate(values):
    kept = [v for v in values if v is not None]
    return (float(np.mean(kept)), len(kept)) if kept else (None, 0)

  said = describe(images)
  model_says, blind_says = scored("test", said), scored("test", [blind] * n)
  abilities, not_measured = {}, {}
  for name, kind in PERCEPTION.items():
    if kind == "relation":
      score, count = rate(model_says["relation"])
      if count:
        abilities[name] = ability(score, 0.25, count, "the relation word, where the caption "
                                  "names both objects right (chance: 1 of 4 words)")
      else:
        not_measured[name] = "no greedy caption named both objects of a two-object scene"
      continue
    what = {"count": "how many objects it names"}.get(kind, f"the {kind} of every object")
    abilities[name] = ability(rate(model_says[kind])[0], rate(blind_says[kind])[0], n,
                              f"greedy captions: {what} (chance: the commonest caption's)")
  n_comp = sources.compositional_examples(world, config.eval.compositional_examples)
  if n_comp:
    comp_images, _ = captioning.test_set(world, "test_compositional", n_comp)
    abilities["compositional"] = ability(
        rate(scored("test_compositional", describe(comp_images))["all"])[0],
        rate(scored("test_compositional", [blind] * n_comp)["all"])[0], n_comp,
        "every object described right, on test_compositional")
  else:
    not_measured["compositional"] = "the run held out no (shape, colour) pairs"
  noisy = robustness.gaussian_noise(images, NOISE["image"], np.random.default_rng(seed),
                                    (0.0, 1.0))
  abilities["noise_robustness"] = ability(
      rate(scored("test", describe(noisy))["all"])[0], rate(blind_says["all"])[0], n,
      f"every object described right, image noise std {NOISE['image']:g}")
  not_measured["cross_modal"] = "a captioner reads one modality"
  not_measured["calibration"] = "a caption is a sequence, not one class probability"
  return {"abilities": abilities, "not_measured": not_measured,
          "run": {"experiment": "captioning", "workdir": os.path.abspath(workdir), "step": step,
                  "inputs": ["image"], "blind_caption": blind, "greedy_captions": said}}


@PROFILES.register("fusion_classification")
def fusion_profile(workdir: str, num_examples: Optional[int] = None, seed: int = 0) -> dict:
  """A fusion_classification.py run on the synthetic world (experiments/evaluate.py's Subject)."""
  s = fusion_subject(workdir, num_examples)
  task, chance = s.run["task"], s.run["chance"]
  probs = s.probabilities(s.inputs)
  abilities, not_measured = {}, {}
  measured = TASK_ABILITY.get(task)
  if measured:
    abilities[measured] = ability(np.mean(probs.argmax(-1) == s.labels), chance, len(s.labels),
                                  f"the {task} task's test split (chance: the task's)")
  for name in ("perception/colour", "perception/shape", "perception/size", "counting",
               "spatial_relations", "cross_modal"):
    if name != measured:
      not_measured[name] = f"the {task} task's label does not ask it"
  if s.compositional is not None:
    inputs, labels = s.compositional
    abilities["compositional"] = ability(
        np.mean(s.probabilities(inputs).argmax(-1) == labels), chance, len(labels),
        "the task on test_compositional")
  else:
    not_measured["compositional"] = s.compositional_note
  noises = {m: at_level(s.corruptions[m][-1], NOISE[m]) for m in s.corruptions}
  noisy = s.probabilities(noised(s.inputs, noises, seed))
  abilities["noise_robustness"] = ability(
      np.mean(noisy.argmax(-1) == s.labels), chance, len(s.labels),
      "the task with " + ", ".join(f"{m} {s.corruptions[m][-1].name} {NOISE[m]:g}"
                                   for m in s.corruptions))
  abilities["calibration"] = ability(expected_calibration_error(probs, s.labels), None,
                                     len(s.labels), "ECE of the class probabilities")
  return {"abilities": abilities, "not_measured": not_measured, "run": s.run}


def profile(workdir: str, experiment: str, num_examples: Optional[int] = None,
            seed: int = 0) -> dict:
  """The run's profile, also written to <workdir>/profile/."""
  adapter = PROFILES.get(experiment, "--experiment")
  if num_examples is not None and num_examples < 1:
    raise ConfigError(f"--num_examples={num_examples}; valid: >= 1, or 0 for the run's "
                      "eval.num_examples.")
  result = adapter(workdir, num_examples, seed)
  run = result["run"]
  write_profile(result, os.path.join(workdir, "profile"),
                f"{experiment} ({run.get('task') or '+'.join(run.get('inputs', []))}), "
                f"step {run['step']}")
  return result


FLAGS = flags.FLAGS
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def label(result: dict) -> str:
  """A run's column in the comparison: its experiment and task (or inputs)."""
  run = result["run"]
  return f"{run['experiment']} ({run.get('task') or '+'.join(run.get('inputs', []))})"


def main(argv):
  del argv
  logging.set_verbosity(logging.WARNING)
  experiments, workdirs = FLAGS.experiment.split(","), FLAGS.workdir.split(",")
  if len(experiments) != len(workdirs):
    raise ConfigError(f"--experiment names {len(experiments)} runs and --workdir "
                      f"{len(workdirs)}; give one experiment per workdir, in the same order.")
  for name in experiments:  # a misspelt one fails now, not after minutes of predictions
    PROFILES.get(name, "--experiment")
  if FLAGS.update_readme:
    with open(FLAGS.readme) as f:
      tables.replace_block(f.read(), "", *tables.markers("profile"))
  t0, load0 = time.monotonic(), os.getloadavg()[0]
  results = {}
  for name, workdir in zip(experiments, workdirs):
    result = profile(workdir, name, FLAGS.num_examples or None, FLAGS.seed)
    results[label(result)] = result
    print(f"{label(result)}, {workdir} at step {result['run']['step']}:\n")
    print(profile_table(result))
    print(f"Profile: {os.path.join(workdir, 'profile')}/profile.{{json,md,png}}\n")
  if len(results) > 1:
    print(comparison_table(results))
  if FLAGS.update_readme:
    command = tables.shown_command("python experiments/cognitive_profile.py", sys.argv[1:],
                                   ("--update_readme", "--readme"))
    steps = ", ".join(f"{k} at step {r['run']['step']}" for k, r in results.items())
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    text = (f"`{command}` ({steps}) on {tables.machine()}, "
            f"{tables.duration(time.monotonic() - t0)} (load "
            f"{(load0 + os.getloadavg()[0]) / 2:.1f} on {cpus} cores); each cell is the score "
            f"(chance):\n\n{comparison_table(results)}")
    changed = tables.update_readme(FLAGS.readme, "profile", text)
    print(f"{'Updated' if changed else 'Unchanged:'} {FLAGS.readme} (profile)")


if __name__ == "__main__":
  flags.DEFINE_string("workdir", None, "The workdir of a finished run (holds config.json), or "
                      "several, comma-separated.")
  flags.DEFINE_string("experiment", None, "Each run's experiment, comma-separated; valid: "
                      f"{', '.join(PROFILES.names())}.")
  flags.DEFINE_integer("num_examples", 0, "Test examples (0: the run's eval.num_examples).")
  flags.DEFINE_integer("seed", 0, "Seed of the noise.")
  flags.DEFINE_bool("update_readme", False, "Write the runs' comparison table into README's "
                    "<!-- profile:begin/end --> block.")
  flags.DEFINE_string("readme", os.path.join(ROOT, "README.md"), "The README to update.")
  flags.mark_flags_as_required(["workdir", "experiment"])
  app.run(main)
