r"""Visual question answering on the synthetic world: question + image (+ spoken caption) -> one
of the world's answers (count / exists / colour / shape / size / relation questions).

Run (the default preset: 3.4 min on 2 CPU cores at load ~5, 11 min shared with ~8 jobs):
  python experiments/vqa.py --config configs/vqa.py --workdir runs/vqa
Presets, chosen after the colon:
  tiny     seconds-long smoke run (CI).
  default  a GRU reads the question, a CNN the image (its flattened 4 x 4 map); FiLM (the
           question scales and shifts the image features); 2-object scenes, 1200 steps.
  audio    the question and the spoken caption (AST), no image (9 min at load ~8).
Test accuracy (2000 questions, seed 0). prior: the majority answer of each question type on 5000
training questions; Q-only Bayes: the best any model blind to the scene can do.
                 colour  count  exists  relation  shape  size    all
  default         0.824  1.000   0.869     0.539  0.680  0.866  0.825
  audio           0.753  1.000   0.860     0.662  0.778  0.878  0.838
  question only   0.182  0.506   0.474     0.253  0.265  0.472  0.378  (inputs=question)
  prior           0.150  0.494   0.526     0.253  0.265  0.528  0.394
  Q-only Bayes    0.167  0.500   0.500     0.250  0.250  0.500  0.383
At 800 steps: film 0.794, concat_late 0.780; with the CNN's head="avg" film 0.762, concat_late
0.762, cross_attention 0.746 (shape questions 0.31-0.39 without the spatial map).
Any component is a config change, e.g.
  --config.model.fusion=cross_attention      (question tokens attend over the image's)
  --config.model.inputs=question             (the learned question-only baseline)
  --config.model.inputs=question,image,audio --config.model.fusion=concat_late
  --config.model.encoders.question.name=bag_of_words --config.model.encoders.image.name=vit
Each encoder / fusion has its own option dict below; only the chosen one's is used.
"""

import ml_collections

from mmjax.train import defaults


def get_config(arg: str = ""):
  c = defaults()
  c.batch_size = 64
  c.total_steps = 1200
  c.log_every_steps = 100
  c.eval_every_steps = 0
  c.checkpoint.every_steps = 500
  c.optimizer.lr = 2e-3
  c.optimizer.weight_decay = 1e-4
  c.schedule.warmup_steps = 100

  c.model = ml_collections.ConfigDict(dict(
      inputs=("question", "image"),  # any of question, image, audio; one = a baseline.
      encoders=dict(
          # vocab_size and (transformer) max_len come from the tokenizer and data.question_len.
          question=dict(name="gru",
                        bag_of_words=dict(width=64),
                        gru=dict(width=64, hidden=64),
                        lstm=dict(width=64, hidden=64),
                        transformer=dict(width=64, depth=2, num_heads=4, mlp_dim=128,
                                         pool="last")),
          image=dict(name="cnn",
                     # head="flatten" keeps where things are (the 4 x 4 map), which shape
                     # and relation questions need: at 800 steps shape 0.58, "avg" 0.33.
                     cnn=dict(channels=(16, 32, 64), head="flatten"),
                     vit=dict(patch_size=8, width=64, depth=2, num_heads=4, mlp_dim=128,
                              pool="mean"),
                     resnet=dict(depth=18, width=16, stem="cifar")),
          # sample_rate comes from data.sample_rate.
          audio=dict(name="ast",
                     ast=dict(patch_size=(4, 32), patch_stride=(2, 32), width=64, depth=2,
                              num_heads=4, mlp_dim=128, pool="mean", num_mel_bins=32,
                              frame_step_ms=20.0, fmin=60.0, fmax=4000.0),
                     spec_cnn=dict(channels=(16, 32, 32), convs_per_block=(1, 1, 1),
                                   num_mel_bins=16, frame_step_ms=20.0, fmin=60.0, fmax=4000.0),
                     wave_cnn=dict(channels=(16, 32, 32), kernel_sizes=(64, 3, 3),
                                   strides=(16, 1, 1), pool_size=4)),
      ),
      # film's condition_index and cross_attention's query_index default to the question.
      fusion="film",
      fusion_options=dict(
          film=dict(dim=128),
          concat_late=dict(dim=128),
          product=dict(dim=128),
          gated=dict(dim=128),
          low_rank_tensor=dict(dim=128, rank=8),
          cross_attention=dict(dim=64, depth=1, num_heads=4),
          concat_early=dict(dim=64, depth=1, num_heads=4),
          bottleneck=dict(dim=64, depth=2, fusion_layer=1, num_bottlenecks=4, num_heads=4),
      ),
      aux_loss_weight=1.0,  # weight of a fusion's own losses (adversarial's discriminator).
      head="classification",
      head_options=dict(hidden=(128,), dropout=0.1),
      label_smoothing=0.0,
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, image_size=32, max_objects=2, noise=0.05, clutter=0, occlusion=0.0,
      question_len=12,  # words + <eos>; the longest question has 9 words.
      sample_rate=8000, snr_db=20.0, audio_seconds=3.0,
      prior_examples=5000))  # training questions the majority-answer prior is counted on.
  c.eval = ml_collections.ConfigDict(dict(num_examples=2000, batch_size=250,
                                          num_examples_saved=12))
  c.eval_only = False

  arg = arg or "default"
  if arg == "tiny":
    c.batch_size = 16
    c.total_steps = 4
    c.log_every_steps = 2
    c.checkpoint.every_steps = 4
    c.schedule.warmup_steps = 1
    c.model.encoders.question.name = "bag_of_words"  # the cheapest encoders to compile.
    c.model.encoders.question.bag_of_words.width = 16
    c.model.encoders.image.cnn.update(channels=(8,), head="avg")
    c.model.fusion_options.film.dim = 16
    c.model.head_options.hidden = (16,)
    c.data.image_size = 16
    c.data.prior_examples = 200
    c.eval.num_examples = 64
    c.eval.batch_size = 32
    c.eval.num_examples_saved = 4
  elif arg == "audio":
    c.model.inputs = ("question", "audio")
  elif arg != "default":
    raise ValueError(f"Unknown preset {arg!r}; valid: default, tiny, audio.")
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
