r"""Saliency maps of a trained run, as PNG overlays and pointing-game scores:

  python -m mmjax.interpret --workdir runs/fusion --method gradcam
  python -m mmjax.interpret --workdir runs/fusion_vit --method rollout --out runs/maps
  python -m mmjax.interpret --workdir runs/fusion --method integrated_gradients --steps 64
  python -m mmjax.interpret --workdir runs/captioning --method cross_attention
  python -m mmjax.interpret --workdir runs/synergy_xattn --method cross_attention
  python -m mmjax.interpret --workdir runs/vqa --method gradcam
  python -m mmjax.interpret --workdir runs/contrastive --method rollout
  python -m mmjax.interpret --workdir runs/video --method gradcam
  python -m mmjax.interpret --workdir runs/asr --method rollout

The run (a fusion_classification.py workdir, and for cross_attention one that fuses image and
text by cross_attention; a captioning.py one for cross_attention; a
vqa.py one for gradcam; a contrastive.py one for rollout or gradcam, maps of a caption of one
object; a video_classification.py one for gradcam, a map per frame; a speech_recognition.py
one for rollout, a map over time per written word) is rebuilt from its config.json and newest
checkpoint; see mmjax/interpret/explain.py, captions.py, questions.py, retrieval.py, video.py
and speech.py for what each method draws and measures.
"""

import json

from absl import app, flags, logging

from mmjax import experiment
from mmjax.interpret.captions import explain_captions
from mmjax.interpret.explain import METHODS, explain
from mmjax.interpret.fusion_attention import explain_fusion_attention
from mmjax.interpret.questions import explain_questions
from mmjax.interpret.retrieval import explain_retrieval
from mmjax.interpret.speech import explain_speech
from mmjax.interpret.video import explain_video

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


def run_kind(config) -> str:
  """Which experiment wrote a run's config: video, contrastive, speech, captioning, vqa or
  classification (fusion_classification.py)."""
  if "video" in config.model.get("encoders", {}) and "label" in config.data:
    return "video"  # video_classification.py (av_event_localisation.py's data has no label)
  if "embed_dim" in config.model:
    return "contrastive"
  if "encoder" in config.model and "audio_seconds" in config.data:
    return "speech"  # speech_recognition.py
  if "decoder" in config.model:
    return "captioning"
  return "vqa" if "inputs" in config.model else "classification"


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}.")
  logging.set_verbosity(logging.WARNING)
  kind = run_kind(experiment.load_run_config(FLAGS.workdir))
  only = {"video": "gradcam", "vqa": "gradcam", "speech": "rollout",
          "captioning": "cross_attention"}.get(kind)
  if only and FLAGS.method != only:
    raise app.UsageError(f"--method={FLAGS.method}: a {kind} run's maps are {only}'s.")
  if kind == "classification" and FLAGS.method == "cross_attention":
    scores = explain_fusion_attention(FLAGS.workdir, FLAGS.out, FLAGS.split, FLAGS.num_examples,
                                      FLAGS.num_drawn, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "captioning":
    scores = explain_captions(FLAGS.workdir, FLAGS.out, FLAGS.split, FLAGS.num_examples,
                              FLAGS.num_drawn, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "video":
    scores = explain_video(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                           FLAGS.layer, FLAGS.tolerance, FLAGS.batch_size)
  elif kind == "speech":
    scores = explain_speech(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                            FLAGS.batch_size)
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
