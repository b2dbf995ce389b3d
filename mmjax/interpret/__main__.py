r"""Saliency maps of a trained run, as PNG overlays and pointing-game scores:

  python -m mmjax.interpret --workdir runs/fusion --method gradcam
  python -m mmjax.interpret --workdir runs/fusion_vit --method rollout --out runs/maps
  python -m mmjax.interpret --workdir runs/fusion --method integrated_gradients --steps 64
  python -m mmjax.interpret --workdir runs/captioning --method cross_attention
  python -m mmjax.interpret --workdir runs/synergy_xattn --method cross_attention
  python -m mmjax.interpret --workdir runs/vqa --method gradcam
  python -m mmjax.interpret --workdir runs/contrastive --method rollout
  python -m mmjax.interpret --workdir runs/lit_coco --method rollout
  python -m mmjax.interpret --workdir runs/video --method gradcam
  python -m mmjax.interpret --workdir runs/asr --method rollout
  python -m mmjax.interpret --workdir runs/ave --method gradcam
  python -m mmjax.interpret --workdir runs/video_retrieval --method gradcam
  python -m mmjax.interpret --workdir runs/video_captioning --method cross_attention
  python -m mmjax.interpret --workdir runs/avm_late --method integrated_gradients
  python -m mmjax.interpret --workdir runs/pretrain_finetune/finetune --method gradcam
  python -m mmjax.interpret --workdir runs/translation/text_classifier \
      --method integrated_gradients

The run, of any experiment in KINDS (which lists the methods each takes), is rebuilt from
its config.json and newest checkpoint. What each draws and measures: explain.py (fusion
classification: Grad-CAM, rollout, integrated gradients), fusion_attention.py (a
cross_attention fusion), captions.py, questions.py (VQA), retrieval.py (contrastive and
lit_coco), video.py, events.py (AV event localisation), video_retrieval.py, video_captions.py,
speech.py and digits.py (AV-MNIST, real digits), finetuned.py (pretrain_finetune.py's
classifiers), attributes.py and text_judge.py (translation.py's image and text judges). A
multi-stage experiment's workdir holds one run per stage: give the stage's.
"""

import json
import os

from absl import app, flags, logging

from mmjax import experiment
from mmjax.interpret.captions import explain_captions
from mmjax.interpret.digits import explain_digits
from mmjax.interpret import finetuned
from mmjax.interpret.attributes import explain_attributes
from mmjax.interpret.events import explain_events
from mmjax.interpret.explain import METHODS, explain
from mmjax.interpret.fusion_attention import explain_fusion_attention
from mmjax.interpret.questions import explain_questions
from mmjax.interpret.retrieval import explain_lit_coco, explain_retrieval
from mmjax.interpret.speech import explain_speech
from mmjax.interpret.text_judge import explain_text_judge
from mmjax.interpret.video import explain_video
from mmjax.interpret.video_captions import explain_video_captions
from mmjax.interpret.video_retrieval import explain_video_retrieval
from mmjax.registry import ConfigError

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "The workdir of a trained run.")
flags.DEFINE_enum("method", None, METHODS + ("cross_attention",), "What to compute.")
flags.DEFINE_string("out", None, "Output folder (default <workdir>/interpret/<method>).")
flags.DEFINE_string("split", "test", "The split whose first examples are explained.")
flags.DEFINE_integer("num_examples", 200, "Examples scored.")
flags.DEFINE_integer("num_drawn", 12, "Examples drawn in maps.png.")
flags.DEFINE_string("layer", "", "Grad-CAM's feature hook (default: the image encoder's last).")
flags.DEFINE_integer("steps", 32, "Integrated gradients' integration steps.")
flags.DEFINE_float("tolerance", 0.0, "Pointing-game tolerance in pixels (0: the peak pixel).")
flags.DEFINE_integer("batch_size", 50, "Examples per compiled batch.")
flags.mark_flags_as_required(["workdir", "method"])


# What each kind of run's maps are: its experiment script, and the --method values it takes.
KINDS = {
    "classification": ("fusion_classification.py", METHODS + ("cross_attention",)),
    "digits": ("av_mnist.py", ("gradcam", "integrated_gradients")),
    "captioning": ("captioning.py", ("cross_attention",)),
    "vqa": ("vqa.py", ("gradcam",)),
    "contrastive": ("contrastive.py", ("rollout", "gradcam")),
    "lit_coco": ("lit_coco.py", ("rollout", "gradcam")),
    "video": ("video_classification.py", ("gradcam",)),
    "events": ("av_event_localisation.py", ("gradcam",)),
    "video_retrieval": ("video_retrieval.py", ("gradcam",)),
    "video_captioning": ("video_captioning.py", ("cross_attention",)),
    "finetuned": ("pretrain_finetune.py's finetune and scratch stages", ("gradcam", "rollout")),
    "attributes": ("translation.py's image_classifier stage", ("gradcam",)),
    "text_judge": ("translation.py's text_classifier stage", ("integrated_gradients",)),
    "speech": ("speech_recognition.py", ("rollout",)),
}


def run_kind(workdir: str) -> str:
  """Which experiment trained the run in `workdir` (a key of KINDS), from its config.json;
  ConfigError naming what maps cover for a workdir they do not."""
  supported = "; ".join(f"{script} ({', '.join(methods)})" for script, methods in KINDS.values())
  stages = sorted(d for d in os.listdir(workdir) if os.path.exists(
      os.path.join(workdir, d, "config.json"))) if os.path.isdir(workdir) else []
  whole = os.path.join(workdir, "config.json")
  # pretrain_finetune.py, translation.py: one trained run per stage, the experiment's whole
  # config above them (written by this code; not by older runs).
  if stages and (not os.path.exists(whole) or "stages" in experiment.load_run_config(workdir)):
    raise ConfigError(f"{workdir} holds the runs of a multi-stage experiment "
                      f"({', '.join(stages)}), not one run; give one of them as --workdir. "
                      f"Maps cover runs of {supported}.")
  config = experiment.load_run_config(workdir)  # its error says what is missing
  model, data = config.model, config.data
  if "video" in model and "embed_dim" in model:
    return "video_retrieval"
  elif "video" in model:
    return "video_captioning"
  elif "video" in model.get("encoders", {}):
    return "video" if "label" in data else "events"
  elif "av_mnist" in data.get("source", {}):
    return "digits"
  elif "text_init" in model:  # its towers' sizes come from the checkpoints it names
    return "lit_coco"
  elif "embed_dim" in model:
    return "contrastive"
  elif "encoder" in model and "audio_seconds" in data:
    return "speech"
  elif "decoder" in model:
    return "captioning"
  elif "inputs" in model:
    return "vqa"
  elif "modalities" in model:
    return "classification"
  # A stage whose model needs the experiment's whole config, written above the stages.
  parent = os.path.dirname(os.path.normpath(workdir))
  if os.path.exists(os.path.join(parent, "config.json")) and \
      "mode" in experiment.load_run_config(parent):  # translation.py
    stage = os.path.basename(os.path.normpath(workdir))
    judges = {"image_classifier": "attributes", "text_classifier": "text_judge"}
    if stage in judges:
      return judges[stage]
    raise ConfigError(f"{workdir} is translation.py's {stage} stage, which maps do not cover "
                      "(a diffusion sampler's image has no class score to explain; its judged "
                      "accuracy is the experiment's result): its image_classifier (gradcam), "
                      "text_classifier (integrated_gradients) and captioner (cross_attention) "
                      f"stages they do. Maps cover runs of {supported}.")
  finetuned.experiment_config(workdir)
  return "finetuned"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}.")
  logging.set_verbosity(logging.WARNING)
  kind = run_kind(FLAGS.workdir)
  script, methods = KINDS[kind]
  if FLAGS.method not in methods:
    raise app.UsageError(f"--method={FLAGS.method} on a run of {script}; valid: "
                         f"{', '.join(methods)}.")
  if kind == "classification" and FLAGS.method == "cross_attention":
    scores = explain_fusion_attention(FLAGS.workdir, FLAGS.out, FLAGS.split, FLAGS.num_examples,
                                      FLAGS.num_drawn, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "captioning":
    scores = explain_captions(FLAGS.workdir, FLAGS.out, FLAGS.split, FLAGS.num_examples,
                              FLAGS.num_drawn, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "digits":
    scores = explain_digits(FLAGS.workdir, FLAGS.method, FLAGS.out, FLAGS.split,
                            FLAGS.num_examples, FLAGS.num_drawn, FLAGS.layer, FLAGS.steps,
                            FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "events":
    scores = explain_events(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                            FLAGS.layer, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "attributes":
    scores = explain_attributes(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                                FLAGS.layer, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "text_judge":
    scores = explain_text_judge(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                                FLAGS.steps, FLAGS.batch_size)
  elif kind == "finetuned":
    scores = finetuned.explain_finetuned(FLAGS.workdir, FLAGS.method, FLAGS.out,
                                         FLAGS.num_examples, FLAGS.num_drawn, FLAGS.layer,
                                         FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "video_captioning":
    scores = explain_video_captions(FLAGS.workdir, FLAGS.out, FLAGS.num_examples,
                                    FLAGS.num_drawn, FLAGS.batch_size)
  elif kind == "video_retrieval":
    scores = explain_video_retrieval(FLAGS.workdir, FLAGS.out, FLAGS.num_examples,
                                     FLAGS.num_drawn, FLAGS.layer, FLAGS.tolerance,
                                     FLAGS.batch_size)
  elif kind == "video":
    scores = explain_video(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                           FLAGS.layer, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "speech":
    scores = explain_speech(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                            FLAGS.batch_size)
  elif kind == "lit_coco":
    scores = explain_lit_coco(FLAGS.workdir, FLAGS.method, FLAGS.out, FLAGS.num_examples,
                              FLAGS.num_drawn, FLAGS.batch_size)
  elif kind == "contrastive":
    scores = explain_retrieval(FLAGS.workdir, FLAGS.method, FLAGS.out, FLAGS.split,
                               FLAGS.num_examples, FLAGS.num_drawn, FLAGS.tolerance,
                               FLAGS.batch_size)
  elif kind == "vqa":
    scores = explain_questions(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                               FLAGS.layer, FLAGS.tolerance, FLAGS.batch_size)
  else:
    scores = explain(FLAGS.workdir, FLAGS.method, FLAGS.out, FLAGS.split, FLAGS.num_examples,
                     FLAGS.num_drawn, FLAGS.layer, FLAGS.steps, FLAGS.tolerance,
                     FLAGS.batch_size)
  print(json.dumps({k: v for k, v in scores.items() if k not in ("workdir",)}, indent=2))


if __name__ == "__main__":
  app.run(main)
