r"""Visual question answering on the synthetic world: question + image (+ spoken caption) -> one
of the world's answers (count / exists / colour / shape / size / relation questions).

  python experiments/vqa.py --config configs/vqa.py --workdir runs/vqa

Presets, chosen after the colon (README has the measured accuracies):
  tiny     seconds-long smoke run (CI).
  default  a GRU reads the question, a CNN the image (its flattened 4 x 4 map); FiLM (the
           question scales and shifts the image features); 2-object scenes, 1200 steps.
  audio    the question and the spoken caption (AST), no image.
Your own files (image, question, answer[, question_type]; the answers of the train split are the
classes) are a source change:
  --config.data.source.name=manifest --config.data.source.manifest.dir=DIR
results.json gives the accuracy per question type beside two baselines blind to the scene: the
majority answer of each type on data.prior_examples training questions, and the best any such
model can do (question-only Bayes, computed as if no pair were held out: holding out two pairs
makes colour and shape questions about a circle or triangle slightly easier to guess).
Training never sees the (shape, colour) pairs of data.source.shapes.held_out; questions about
eval.compositional_examples test_compositional scenes, each with one of them, give
compositional/accuracy and compositional/per_type.
Any component is a config change; each encoder / fusion / head has its own option dict below,
and only the chosen one's is read:
  --config.model.fusion.name=cross_attention   (question tokens attend over the image's)
  --config.model.inputs=question               (the learned question-only baseline)
  --config.model.inputs=question,image,audio --config.model.fusion.name=concat_late
  --config.model.encoders.question.name=bag_of_words --config.model.encoders.image.name=vit
  --config.model.missing.placeholders=True --config.model.missing.modality_dropout=0.3
                                               (any input may be missing; results.json's
                                                missing_<input>/accuracy leaves each out)
"""

import ml_collections

from mmjax.data.synthetic.scenes import DEFAULT_HELD_OUT
from mmjax.tasks.classification import encoder_choices
from mmjax.train import defaults, smoke


def get_config(arg: str = ""):
  c = defaults(batch_size=64, total_steps=1200, log_every_steps=100, eval_every_steps=0,
               checkpoint=dict(every_steps=500), optimizer=dict(lr=2e-3, weight_decay=1e-4),
               schedule=dict(warmup_steps=100))

  c.model = ml_collections.ConfigDict(dict(
      inputs=("question", "image"),  # any of question, image, audio; one = a baseline.
      # Each input's encoder alternatives with small options (SMALL_ENCODERS in
      # mmjax/tasks/classification.py); vocab_size, (transformer) max_len and sample_rate come
      # from the tokenizer, data.text_len and data.sample_rate. The CNN's head="flatten" keeps
      # where things are (the 4 x 4 map), which shape and relation questions need ("avg" pools
      # it away).
      encoders=dict(question=encoder_choices("text", "gru"),
                    image=encoder_choices("image", "cnn",
                                          cnn=dict(channels=(16, 32, 64), head="flatten")),
                    audio=encoder_choices("audio", "ast")),
      # film's condition_index and cross_attention's query_index default to the question.
      fusion=dict(
          name="film",
          film=dict(dim=128),
          concat_late=dict(dim=128),
          product=dict(dim=128),
          gated=dict(dim=128),
          low_rank_tensor=dict(dim=128, rank=8),
          cross_attention=dict(dim=64, depth=1, num_heads=4),
          concat_early=dict(dim=64, depth=1, num_heads=4),
          bottleneck=dict(dim=64, depth=2, fusion_layer=1, num_bottlenecks=4, num_heads=4),
      ),
      # Learned stand-ins for a missing input (any subset at test time: results.json's
      # missing_<input>/accuracy), and the rate each training example loses each input.
      missing=dict(placeholders=False, modality_dropout=0.0),
      aux_loss_weight=1.0,  # weight of a fusion's own losses (adversarial's discriminator).
      head=dict(name="classification", classification=dict(hidden=(128,), dropout=0.1)),
      label_smoothing=0.0,
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32, sample_rate=8000, audio_seconds=3.0,
      text_len=12,  # question words + <eos>; the longest question has 9 words.
      prior_examples=5000,  # training questions the majority-answer prior is counted on.
      # held_out: (shape, colour) pairs training never sees, only test_compositional.
      source=dict(name="shapes", shapes=dict(max_objects=2, noise=0.05, clutter=0,
                                             occlusion=0.0, snr_db=20.0,
                                             held_out=DEFAULT_HELD_OUT),
                  # Your own files: train/val/test.jsonl in `dir` with image, question, answer
                  # and optionally question_type (the per-type table; else one type "all").
                  manifest=dict(dir="", train="train.jsonl", val="val.jsonl",
                                test="test.jsonl", on_bad_example="error",
                                validation_cache=True, cache=False))))
  c.eval = ml_collections.ConfigDict(dict(
      num_examples=2000, batch_size=250, num_examples_saved=12,
      # test_compositional questions scored too (0: none; the synthetic world with held-out
      # pairs only).
      compositional_examples=500))
  c.eval_only = False

  arg = arg or "default"
  if arg == "tiny":
    c.update(smoke(16, 4))
    c.model.encoders.question.name = "bag_of_words"  # the cheapest encoders to compile.
    c.model.encoders.question.bag_of_words.width = 16
    c.model.encoders.image.cnn.update(channels=(8,), head="avg")
    c.model.fusion.film.dim = 16
    c.model.head.classification.hidden = (16,)
    c.data.image_size = 16
    c.data.prior_examples = 200
    c.eval.num_examples = 64
    c.eval.batch_size = 32
    c.eval.num_examples_saved = 4
    c.eval.compositional_examples = 32
  elif arg == "audio":
    c.model.inputs = ("question", "audio")
  elif arg != "default":
    raise ValueError(f"Unknown preset {arg!r}; valid: default, tiny, audio.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
