r"""AV-MNIST fusion study, reproducing MultiBench's recipes (Liang et al. 2021, "MultiBench:
Multiscale Benchmarks for Multimodal Representation Learning", NeurIPS Datasets & Benchmarks).

Needs the tfds datasets mnist and spoken_digit, prepared once where downloading is allowed:
  tfds build mnist spoken_digit --data_dir DIR
Run (the default preset, `late`; CI runs only `tiny`, on tfds mock data):
  python experiments/av_mnist.py --config configs/av_mnist.py --workdir runs/av_mnist \
      --config.data.source.av_mnist.data_dir=DIR
Presets, chosen after the colon; `,tiny` shrinks any of them to a seconds-long smoke run
(`:tiny` alone is `late,tiny`, what CI runs on tfds mock data); `,manifest` reads your own
image + audio + label files instead (--config.data.source.manifest.dir=DIR; real FSDD
recordings and MNIST digits: `python -m mmjax.data.prepare fsdd_mnist`), 5 epochs over its
8,000 training pairs (below, where the manifest modifier is applied, says why):
  late             (default) image LeNet + audio LeNet, concatenated, MLP head.
  tensor           Tensor Fusion Network ([x_img; 1] (x) [x_aud; 1] -> Dense(120)).
  low_rank_tensor  Low-rank tensor fusion, rank 40, 120 wide.
  multiplicative   MI-matrix: the image features generate the weights applied to the audio's.
  image_only       the image LeNet alone (MultiBench's unimodal_0; 3 base channels).
  audio_only       the audio LeNet alone (MultiBench's unimodal_1).
The checkpoint with the best validation accuracy (evaluated every epoch) is the one tested, as
MultiBench selects; results.json holds its test accuracy, macro F1 and confusion matrix.

MultiBench's settings (pliang279/MultiBench examples/multimedia/avmnist_*.py, trained by
training_structures/Supervised_Learning.py): batch 40 (datasets/avmnist/get_data.py), plain SGD
(torch's default momentum 0) with coupled weight decay, gradient norm clipped to 8, constant lr,
validation accuracy every epoch; encoders LeNet(1, c, 3) on the 28x28 image (channels c, 2c, 4c,
8c; 5x5 then 3x3 convs, BatchNorm, ReLU, 2x2 max pool) and LeNet(1, c, 5) on a 112x112
spectrogram (c ... 32c); head MLP(in, 100, 10).
  preset           script                   c  fusion -> width        lr    wd     epochs
  late             simple_late_fusion       6  concat -> 240          0.1   1e-4   30
  low_rank_tensor  low_rank_tensor          6  LRTF rank 40 -> 120    0.05  2e-4   30
  multiplicative   multi_interac_matrix     6  MI-matrix -> 240       0.05  1e-4   20
  image_only       unimodal_0               3  (24 features)          0.01  1e-4   20
  audio_only       unimodal_1               6  (192 features)         0.1   1e-4   20
  tensor           (MultiBench has no AV-MNIST TFN script: its avmnist_tensor_matrix.py is an
                   MI-matrix) TFN -> 120 with the low_rank_tensor settings.
Differences from MultiBench, all forced by the data being rebuilt here from tfds (see
mmjax/data/tfds/av_mnist.py): the audio noise is white noise at
data.source.av_mnist.audio_snr_db (MultiBench mixes ESC-50 sounds; `inf` turns it off); the
spectrogram is this repository's log-mel front end (107 frames x 64 mels at 8 kHz, not a 112x112
image); the audio encoder is `spec_cnn` (3x3 convs with LayerNorm rather than a 5x5 first conv
with BatchNorm); the MLP head uses GELU, not ReLU.
"""

import ml_collections

from mmjax.train import defaults

TRAIN_EXAMPLES, BATCH = 55_000, 40
STEPS_PER_EPOCH = TRAIN_EXAMPLES // BATCH  # 1375, as MultiBench's DataLoader (55000 / 40).
MANIFEST_TRAIN = 8000  # python -m mmjax.data.prepare fsdd_mnist's train split of MNIST's 10k.
MANIFEST_EPOCHS = 5
PRESETS = ("late", "tensor", "low_rank_tensor", "multiplicative", "image_only", "audio_only")


def lenet(base: int, blocks: int, first_kernel: int) -> dict:
  """MultiBench's LeNet(1, base, blocks - 1) widths: base, 2 base, ..., 2^(blocks-1) base."""
  return dict(channels=tuple(base * 2 ** i for i in range(blocks)),
              kernel_size=(first_kernel,) + (3,) * (blocks - 1))


def recipe(c, epochs: int, lr: float, weight_decay: float):
  c.total_steps = epochs * STEPS_PER_EPOCH
  c.optimizer.lr = lr
  c.optimizer.weight_decay = weight_decay


def get_config(arg: str = ""):
  c = defaults()
  c.batch_size = BATCH
  c.eval_every_steps = STEPS_PER_EPOCH  # validation accuracy after every epoch.
  c.log_every_steps = 275
  c.checkpoint.every_steps = STEPS_PER_EPOCH
  c.optimizer.update(name="sgd", momentum=0.0, grad_clip_norm=8.0, decay_mask="all")
  c.schedule.update(name="constant", warmup_steps=0)
  recipe(c, epochs=30, lr=0.1, weight_decay=1e-4)

  c.model = ml_collections.ConfigDict(dict(
      modalities=("image", "audio"),
      encoders=dict(
          # The image LeNet ends at 1x1 after 4 poolings of 28x28: flattened = 8 base features.
          image=dict(name="cnn", cnn=dict(**lenet(6, 4, 5), norm="batch", head="flatten")),
          # sample_rate comes from data.sample_rate. 64 ms frames give 15.6 Hz FFT bins, finer
          # than the narrowest of 64 mel filters from 60 Hz, so no filter is empty.
          audio=dict(name="spec_cnn", spec_cnn=dict(
              channels=lenet(6, 6, 3)["channels"], convs_per_block=(1,) * 6, num_mel_bins=64,
              frame_length_ms=64.0, frame_step_ms=8.75, fmin=60.0, fmax=4000.0)),
      ),
      fusion=dict(
          name="concat_late",
          concat_late={},  # MultiBench's Concat: no projection, 48 + 192 = 240 features.
          tensor=dict(dim=120),
          low_rank_tensor=dict(dim=120, rank=40),
          multiplicative=dict(mode="matrix", dim=240, context_index=0),
      ),
      head=dict(name="classification", classification=dict(hidden=(100,), dropout=0.0)),
      # Learned stand-ins for a missing modality (results.json's missing_<modality>/accuracy),
      # and the rate each training example loses each modality (configs/fusion.py's keys).
      missing=dict(placeholders=False, modality_dropout=0.0),
      label_smoothing=0.0,
  ))
  c.data = ml_collections.ConfigDict(dict(
      seed=0, sample_rate=8000, audio_seconds=1.0,  # 1 s clips at spoken_digit's rate.
      source=dict(name="av_mnist", av_mnist=dict(
          data_dir="",  # "" = tfds' default (~/tensorflow_datasets or $TFDS_DATA_DIR).
          image_energy=0.25,  # MultiBench removes 75% of the images' PCA energy.
          audio_snr_db=0.0),  # white noise at 0 dB SNR; inf = clean audio.
      # Your own image + audio + label files (the `manifest` modifier): train/val/test.jsonl in
      # `dir`; 28 x 28 grey images as MNIST's. The decoded examples are kept in memory (cache:
      # 10,000 pairs of a 1 s clip are 350 MB), so epochs after the first decode nothing.
      manifest=dict(dir="", train="train.jsonl", val="val.jsonl", test="test.jsonl",
                    on_bad_example="error", validation_cache=True, channels=1, cache=True))))
  c.eval = ml_collections.ConfigDict(dict(batch_size=500))
  c.eval_only = False

  names = [a.strip() for a in (arg or "late").split(",")]
  tiny, manifest = "tiny" in names, "manifest" in names
  names = [n for n in names if n not in ("tiny", "manifest")] or ["late"]
  if len(names) != 1 or names[0] not in PRESETS:
    raise ValueError(f"Unknown preset {arg!r}; valid: one of {', '.join(PRESETS)} (default "
                     "late), optionally followed by ',manifest' and/or ',tiny'; or 'tiny' "
                     "alone (= late,tiny).")
  preset = names[0]
  m = c.model
  if preset == "tensor":
    m.fusion.name = "tensor"
    recipe(c, epochs=30, lr=0.05, weight_decay=2e-4)
  elif preset == "low_rank_tensor":
    m.fusion.name = "low_rank_tensor"
    recipe(c, epochs=30, lr=0.05, weight_decay=2e-4)
  elif preset == "multiplicative":
    m.fusion.name = "multiplicative"
    recipe(c, epochs=20, lr=0.05, weight_decay=1e-4)
  elif preset == "image_only":
    m.modalities = ("image",)
    m.encoders.image.cnn.update(lenet(3, 4, 5))
    recipe(c, epochs=20, lr=0.01, weight_decay=1e-4)
  elif preset == "audio_only":
    m.modalities = ("audio",)
    recipe(c, epochs=20, lr=0.1, weight_decay=1e-4)

  if manifest:  # your files: add --config.data.source.manifest.dir=DIR
    c.data.source.name = "manifest"
    c.data.image_size = 28
    # 5 epochs of prepare fsdd_mnist's 8,000 training pairs (MNIST's test set split), validated
    # after each: on them `late` fits the train split within a few epochs while validation
    # accuracy on the held-out speaker only wanders (the run's metrics.jsonl shows both), so
    # MultiBench's 20-30 epochs of 55,000 pairs would add hours on 2 cores for little (the best
    # epoch is the one tested either way; README's real-data rows have the results).
    c.eval_every_steps = c.checkpoint.every_steps = MANIFEST_TRAIN // BATCH
    c.total_steps = MANIFEST_EPOCHS * c.eval_every_steps
    c.log_every_steps = 50
  if tiny:  # seconds on tfds mock data (tests/test_experiment_av_mnist.py).
    c.batch_size = 8
    c.total_steps = 4
    c.eval_every_steps = 2
    c.log_every_steps = 2
    c.checkpoint.every_steps = 2
    m.encoders.image.cnn.update(channels=(2, 4), kernel_size=(5, 3))
    # Mock clips are 5-50 samples long: 64-sample windows, 4 ms frames, 4 mel bands.
    m.encoders.audio.spec_cnn.update(channels=(2, 4), convs_per_block=(1, 1), num_mel_bins=4,
                                     frame_length_ms=4.0, frame_step_ms=2.0)
    m.fusion.tensor.dim = 8
    m.fusion.low_rank_tensor.update(dim=8, rank=2)
    m.fusion.multiplicative.dim = 8
    m.head.classification.hidden = (8,)
    c.data.audio_seconds = 0.008  # 64 samples
    c.eval.batch_size = 8
  c.lock()  # from here on, a misspelt key is an error that names the valid ones.
  return c
