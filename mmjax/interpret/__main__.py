r"""Saliency maps of a trained run, as PNG overlays and pointing-game scores:

  python -m mmjax.interpret --workdir runs/fusion --method gradcam
  python -m mmjax.interpret --workdir runs/fusion_vit --method rollout --out runs/maps
  python -m mmjax.interpret --workdir runs/fusion --method integrated_gradients --steps 64
  python -m mmjax.interpret --workdir runs/captioning --method cross_attention
  python -m mmjax.interpret --workdir runs/vqa --method gradcam
  python -m mmjax.interpret --workdir runs/contrastive --method rollout

The run (a fusion_classification.py workdir; a captioning.py one for cross_attention; a
vqa.py one for gradcam; a contrastive.py one for rollout or gradcam, maps of a caption of one
object) is rebuilt from its config.json and newest checkpoint; see mmjax/interpret/explain.py,
captions.py, questions.py and retrieval.py for what each method draws and measures.
"""

import json

from absl import app, flags, logging

from mmjax import experiment
from mmjax.interpret.captions import explain_captions
from mmjax.interpret.explain import METHODS, explain
from mmjax.interpret.questions import explain_questions
from mmjax.interpret.retrieval import explain_retrieval

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


def main(argv):
  if len(argv) > 1:
    raise app.UsageError(f"Unexpected arguments {argv[1:]}.")
  logging.set_verbosity(logging.WARNING)
  if FLAGS.method == "cross_attention":
    scores = explain_captions(FLAGS.workdir, FLAGS.out, FLAGS.split, FLAGS.num_examples,
                              FLAGS.num_drawn, FLAGS.tolerance, FLAGS.batch_size)
  elif "embed_dim" in experiment.load_run_config(FLAGS.workdir).model:  # a contrastive run
    scores = explain_retrieval(FLAGS.workdir, FLAGS.method, FLAGS.out, FLAGS.split,
                               FLAGS.num_examples, FLAGS.num_drawn, FLAGS.tolerance,
                               FLAGS.batch_size)
  elif "inputs" in experiment.load_run_config(FLAGS.workdir).model:  # a vqa.py run
    if FLAGS.method != "gradcam":
      raise app.UsageError(f"--method={FLAGS.method}: a VQA run's maps are gradcam's.")
    scores = explain_questions(FLAGS.workdir, FLAGS.out, FLAGS.num_examples, FLAGS.num_drawn,
                               FLAGS.layer, FLAGS.tolerance, FLAGS.batch_size)
  else:
    scores = explain(FLAGS.workdir, FLAGS.method, FLAGS.out, FLAGS.split, FLAGS.num_examples,
                     FLAGS.num_drawn, FLAGS.layer, FLAGS.steps, FLAGS.tolerance,
                     FLAGS.batch_size)
  print(json.dumps({k: v for k, v in scores.items() if k not in ("workdir",)}, indent=2))


if __name__ == "__main__":
  app.run(main)
