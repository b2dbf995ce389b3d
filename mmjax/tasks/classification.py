"""Multimodal classification from a config: the classifier its `model` section describes, its
loss, its predictions over a split, and the batches of the synthetic world's labelled tasks.
Shared by experiments/fusion_classification.py, av_mnist.py, vqa.py and the evaluation suite
(experiments/evaluate.py).

The model section chooses each component by name, with one option dict per alternative:

  model.modalities = ("image", "audio")      # VQA: model.inputs = ("question", "image")
  model.encoders.<modality> = {"name": "cnn", "cnn": {...}, "vit": {...}}
  model.fusion = {"name": "concat_late", "concat_late": {"dim": 128}, ...}
  model.head = {"name": "classification", "classification": {"hidden": (128,)}}
  model.label_smoothing, model.aux_loss_weight (weight of a fusion's own losses; default 1)

What the data decides reaches the encoders that take it: vocab_size (the tokenizer's), max_len
(data.text_len), sample_rate (data.sample_rate).
"""

import copy
from typing import Callable, NamedTuple, Optional, Sequence

import jax
import jax.numpy as jnp
import numpy as np

from mmjax.data import sources
from mmjax.data.synthetic import TASKS
from mmjax.data.tokenizer import WordTokenizer
from mmjax.losses.classification import softmax_cross_entropy
from mmjax.models import FUSIONS, HEADS
from mmjax.models.multimodal_classifier import (MultimodalClassifier,
                                                auxiliary_loss, encoder_registry)
from mmjax.models.vqa import INPUTS, MODALITY, VQAModel
from mmjax.registry import ConfigError

# The source field each modality's input is made from (text: the caption's words).
FIELDS = {"image": "image", "text": "caption", "audio": "audio"}
# Small options of each encoder alternative for the synthetic world (32 x 32 images, captions and
# questions of a few words, clips of seconds at 8 kHz), which the fusion and VQA configs offer.
# vocab_size, max_len and sample_rate come from the data.
SMALL_ENCODERS = {
    "image": dict(vit=dict(patch_size=8, width=64, depth=2, num_heads=4, mlp_dim=128,
                           pool="mean"),
                  cnn=dict(channels=(8, 16, 32)),
                  resnet=dict(depth=18, width=16, stem="cifar")),
    "text": dict(bag_of_words=dict(width=64),
                 gru=dict(width=64, hidden=64),
                 lstm=dict(width=64, hidden=64),
                 transformer=dict(width=64, depth=2, num_heads=4, mlp_dim=128, pool="last")),
    "audio": dict(ast=dict(patch_size=(4, 32), patch_stride=(2, 32), width=64, depth=2,
                           num_heads=4, mlp_dim=128, pool="mean", num_mel_bins=32,
                           frame_step_ms=20.0, fmin=60.0, fmax=4000.0),
                  spec_cnn=dict(channels=(16, 32, 32), convs_per_block=(1, 1, 1),
                                num_mel_bins=16, frame_step_ms=20.0, fmin=60.0, fmax=4000.0),
                  wave_cnn=dict(channels=(16, 32, 32), kernel_sizes=(64, 3, 3),
                                strides=(16, 1, 1), pool_size=4)),
    # Clips of 8-16 frames: frames with a CNN per frame (head="flatten" keeps where things are
    # in each frame, which an average over positions would erase; hidden projects its map to
    # the frame's token), or a factorised ViViT of 2-frame x 8 x 8 tubelets.
    "video": dict(frames=dict(image="cnn", image_options=dict(channels=(16, 32, 32),
                                                             head="flatten", hidden=128),
                              temporal="transformer", depth=1, num_heads=4, max_frames=16),
                  vivit=dict(tubelet=(2, 8), variant="factorised", width=64, depth=2,
                             num_heads=4, mlp_dim=128, temporal_depth=1)),
}


def encoder_choices(modality: str, name: str, **options) -> dict:
  """A config's model.encoders.<input> section: {"name": name, <alternative>: its options} for
  every alternative in SMALL_ENCODERS[modality], `options` replacing some (cnn=dict(...))."""
  return {"name": name, **copy.deepcopy(SMALL_ENCODERS[modality]), **options}


def names_of(value: Sequence[str], valid: Sequence[str], key: str) -> tuple:
  """A config's list of modalities (or inputs) as a tuple: `--config.model.modalities=image,audio`
  arrives as ("image,audio",), so each entry is split at commas. ConfigError naming `key` unless
  a non-empty subset of `valid` without repeats."""
  names = tuple(n.strip() for s in value for n in str(s).split(",") if n.strip())
  if not names or len(set(names)) != len(names) or not set(names) <= set(valid):
    raise ConfigError(f"{key}={tuple(value)}; valid: a non-empty subset, without repeats, of "
                      f"{', '.join(valid)}.")
  return names


def modalities_of(config, valid: Sequence[str] = tuple(FIELDS)) -> tuple:
  """config.model.modalities, checked (see `names_of`); by default the modalities the scene
  world and files serve (video comes from the clips: experiments/video_classification.py)."""
  return names_of(config.model.modalities, valid, "model.modalities")


def inputs_of(config) -> tuple:
  """A VQA config's model.inputs, checked (see `names_of`)."""
  return names_of(config.model.inputs, INPUTS, "model.inputs")


def components(config, inputs: Sequence[str], vocab_size: Optional[int] = None,
               modality: Optional[dict] = None) -> dict:
  """The keyword arguments of MultimodalClassifier and VQAModel from config.model: encoders
  {input: {"name", **options}}, fusion, fusion_options, head, head_options, dtype. Every name
  and option is checked here, naming its config key, before anything is built. modality: the
  modality of each input (VQA's question is text); by default the input's own name."""
  m, d = config.model, config.data
  data = {"sample_rate": float(d.sample_rate)} if "sample_rate" in d else {}
  if vocab_size is not None:
    data.update(vocab_size=vocab_size, max_len=d.text_len)
  encoders = {}
  for name in inputs:
    registry = encoder_registry((modality or {}).get(name, name))
    encoder, options = registry.choose(m.encoders[name], f"model.encoders.{name}", **data)
    encoders[name] = {"name": encoder, **options}
  fusion, fusion_options = FUSIONS.choose(m.fusion, "model.fusion")
  head, head_options = HEADS.choose(m.head, "model.head")
  return dict(encoders=encoders, fusion=fusion, fusion_options=fusion_options, head=head,
              head_options=head_options, dtype=jnp.dtype(config.compute_dtype))


def classifier(config, modalities: Sequence[str], num_classes: int,
               vocab_size: Optional[int] = None) -> MultimodalClassifier:
  """The MultimodalClassifier config.model describes, over `modalities`; with
  config.model.missing = {"placeholders": bool, "modality_dropout": p} its missing-modality
  stand-ins and their training (mmjax/models/missing_modality.py)."""
  return MultimodalClassifier(num_classes=num_classes, modalities=tuple(modalities),
                              **missing_options(config),
                              **components(config, modalities, vocab_size))


def missing_options(config) -> dict:
  """{"placeholders", "modality_dropout"} of config.model.missing (absent: neither), checked."""
  missing = dict(config.model.get("missing", None) or {})
  unknown = sorted(set(missing) - {"placeholders", "modality_dropout"})
  if unknown:
    raise ConfigError(f"model.missing has no {unknown}; valid: placeholders, modality_dropout.")
  if missing.get("modality_dropout") and not missing.get("placeholders"):
    raise ConfigError("model.missing.modality_dropout needs model.missing.placeholders=True (a "
                      "dropped modality is replaced by its learned stand-ins).")
  return {"placeholders": bool(missing.get("placeholders", False)),
          "modality_dropout": float(missing.get("modality_dropout", 0.0))}


def left_out(model, names) -> tuple:
  """The inputs a model is also tested without, one at a time: each of `names` when the model
  has missing-modality stand-ins (placeholders) and more than one input, else none."""
  return tuple(names) if model.placeholders and len(names) > 1 else ()


def vqa_model(config, inputs: Sequence[str], num_answers: int, vocab_size: int) -> VQAModel:
  """The VQAModel config.model describes, reading `inputs` (question, image, audio), with
  config.model.missing's stand-ins."""
  return VQAModel(num_answers=num_answers, inputs=tuple(inputs), **missing_options(config),
                  **components(config, inputs, vocab_size, MODALITY))


def init_fn(model, example: dict) -> Callable:
  """init_fn(rng) -> (params, model_state) for the trainer, initialised on the first example of
  `example` ({input: [n, ...]}); model_state holds every collection but params (and the losses
  a fusion sows)."""
  def init(rng):
    variables = model.init(rng, jax.tree.map(lambda x: x[:1], example))
    return variables["params"], {k: v for k, v in variables.items()
                                 if k not in ("params", "losses")}
  return init


def loss_fn(model, inputs: Sequence[str], model_config, label: str = "label") -> Callable:
  """The trainer's loss_fn: softmax cross-entropy (model_config.label_smoothing) of the logits
  of batch[inputs] against batch[label], plus model_config.aux_loss_weight (default 1) times the
  fusion's own losses; logs task_loss, aux_loss and accuracy."""
  smoothing = model_config.get("label_smoothing", 0.0)
  aux_weight = model_config.get("aux_loss_weight", 1.0)

  def loss(params, model_state, batch, rng, axis_name):
    logits, mutated = model.apply({"params": params, **model_state},
                                  {k: batch[k] for k in inputs}, train=True,
                                  rngs={"dropout": rng}, mutable=["losses", *model_state])
    task = softmax_cross_entropy(logits, batch[label], smoothing)
    aux = auxiliary_loss(mutated)
    accuracy = jnp.mean((jnp.argmax(logits, -1) == batch[label]).astype(jnp.float32))
    return task + aux_weight * aux, ({"task_loss": task, "aux_loss": aux, "accuracy": accuracy},
                                     {k: mutated[k] for k in model_state})
  return loss


def variables_of(state) -> dict:
  """The variables to evaluate a TrainState with: the params' EMA when kept, and the model
  state (batch statistics)."""
  return {"params": state.eval_params, **state.model_state}


def predictor(model, probabilities: bool = False,
              compiler_options: Optional[dict] = None) -> Callable:
  """predict(variables, inputs {input: [n, ...]}) -> class ids int [n], or with probabilities
  the softmax float32 [n, classes]; jitted, or with compiler_options compiled once (for the
  first inputs' shapes) with those XLA options."""
  head = (lambda logits: jax.nn.softmax(logits, -1)) if probabilities else \
      (lambda logits: jnp.argmax(logits, -1))
  forward = jax.jit(lambda variables, x: head(model.apply(variables, x)))
  if compiler_options is None:
    return forward
  compiled = []

  def predict(variables, x):
    if not compiled:
      compiled.append(forward.lower(variables, x).compile(compiler_options))
    return compiled[0](variables, x)
  return predict


def in_batches(predict: Callable, variables, inputs, batch_size: int,
               num_examples: Optional[int] = None) -> np.ndarray:
  """predict(variables, batch) over a whole split, in batches of exactly batch_size rows so that
  predict compiles once: the last batch repeats its final example, whose outputs are dropped.
  inputs: {input: [n, ...]} arrays, or a function indices -> such a batch (then num_examples),
  to build a big split's batches on demand. Returns numpy [n, ...]."""
  if callable(inputs):
    batch_of, n = inputs, num_examples
  else:
    batch_of, n = (lambda idx: jax.tree.map(lambda v: v[idx], inputs)), \
        len(jax.tree.leaves(inputs)[0])
  out = []
  for start in range(0, n, batch_size):
    idx = np.arange(start, min(start + batch_size, n))
    x = batch_of(np.pad(idx, (0, batch_size - len(idx)), mode="edge"))
    out.append(np.asarray(predict(variables, x))[:len(idx)])
  return np.concatenate(out)


# ------------------------------------------------------- the synthetic world's labelled tasks --

def stack_inputs(examples: Sequence[dict], names: Sequence[str], tokenizer=None,
                 text_len: int = 0, text_field: str = "caption") -> dict:
  """Model inputs {name: [n, ...]} of a source's examples: "image" float32 [n, s, s, 3] and
  "video" [n, frames, s, s, 3] normalised pixels (sources.normalize), "audio" [n, samples]
  waves, any other name int32 [n, text_len] token ids of the example's `text_field` (text_len
  counts <eos>)."""
  out = {}
  for name in names:
    if name in ("image", "video"):
      out[name] = sources.normalize(np.stack([e[name] for e in examples])).astype(np.float32)
    elif name == "audio":
      out[name] = np.stack([e["audio"] for e in examples])
    else:
      out[name] = tokenizer.encode_batch([e[text_field] for e in examples], text_len)
  return out


def batch_maker(source, split: str, modalities: Sequence[str], tokenizer,
                text_len: int) -> Callable:
  """make(indices int [n]) -> {"label": int32 [n], **stack_inputs of `modalities`} of `split`'s
  examples (text: the caption's words)."""
  fields = ("label",) + tuple(FIELDS[m] for m in modalities)

  def make(indices):
    examples = [source.example(split, int(i), fields) for i in indices]
    return {"label": np.array([e["label"] for e in examples], np.int32),
            **stack_inputs(examples, modalities, tokenizer, text_len)}
  return make


def labelled_task(data, source) -> tuple[str, dict]:
  """(name, task_info) of the labelled task a data source's examples carry: chance,
  Bayes-optimal accuracy, num_classes (mmjax/data/synthetic/tasks.py). data: the config's data
  section."""
  options = data.source.get(data.source.name) or {}
  task = options.get("task") if hasattr(options, "get") else None
  if not task or getattr(source, "task", None) is None:
    raise ConfigError(f"data.source.{data.source.name}.task: classification needs a labelled "
                      f"task; choose one of {', '.join(TASKS.names())} "
                      f"(data.source.{data.source.name}.task.name).")
  return task["name"], source.task.info(getattr(source, "pairs", None))


def files_task(source, modalities: Sequence[str]) -> dict:
  """task_info of a source of files' labels (the manifest's label field): num_classes (the train
  split's class names, or its largest id + 1), chance = the test split's commonest class's share
  (what always answering it scores); the Bayes-optimal accuracy is unknown (None)."""
  sources.require(source, ("label",) + tuple(FIELDS[m] for m in modalities))
  names = source.class_names()
  num_classes = len(names) if names else int(source.labels("train").max()) + 1
  test = np.bincount(source.labels("test"), minlength=num_classes)
  return {"num_classes": num_classes, "chance": float(test.max() / test.sum()),
          "bayes_optimal": None, "unimodal_bayes": None}


def bayes_for(info: dict, modalities: Sequence[str]) -> Optional[float]:
  """The Bayes-optimal accuracy seeing `modalities` (text and audio both carry the caption,
  except where the task says each subset's, task agreement); None when unknown (your own
  files)."""
  if info["bayes_optimal"] is None:
    return None
  if "bayes_by_modalities" in info:
    return info["bayes_by_modalities"]["+".join(sorted(set(modalities)))]
  views = {"image" if m == "image" else "audio" for m in modalities}
  return info["bayes_optimal"] if len(views) == 2 else info["unimodal_bayes"][views.pop()]


class Setup(NamedTuple):
  """What a labelled-task classification run is built from (`setup`)."""
  modalities: tuple
  source: object       # the data source (the synthetic world, or your files)
  task: str            # the labelled task's name ("manifest": your files' label field)
  info: dict           # its task_info
  tokenizer: WordTokenizer
  model: MultimodalClassifier


def setup(config, vocab_path: str, reads: Sequence[str] = ("shapes", "manifest")) -> Setup:
  """The modalities, data source, task, tokenizer (loaded from vocab_path, or built from the
  source's vocabulary and saved there) and model of a fusion_classification config; every
  config value is checked, naming its key, before any example is made."""
  modalities = modalities_of(config)
  source = sources.build(config.data, reads=reads)
  if sources.size(source, "train") is None:
    task, info = labelled_task(config.data, source)
  else:
    task, info = "manifest", files_task(source, modalities)
  # Without text there is no vocabulary to build (files may have no text field).
  words = source.vocabulary() if "text" in modalities or task != "manifest" else []
  tokenizer = WordTokenizer.load_or_build(vocab_path, words)
  model = classifier(config, modalities, info["num_classes"], tokenizer.vocab_size)
  return Setup(modalities, source, task, info, tokenizer, model)
