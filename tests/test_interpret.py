"""mmjax/interpret: Grad-CAM on a model whose evidence sits in one known place, attention maps
and rollout (identity in, identity out; capture does not change the outputs), integrated
gradients' completeness, the pointing game's exact random baseline, and the command on a tiny
trained run."""

import json
import os

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.data.synthetic import SceneWorld, render
from mmjax.data.synthetic.scenes import Object, Scene
from mmjax.interpret import attention, gradcam, integrated_gradients, pointing_game
from mmjax.models.image.cnn import ConvNet
from mmjax.models.image.vit import ViT
from mmjax.models.fusion.cross_attention import CrossAttentionFusion
from tests.scripts import preset


class Brightness(nn.Module):
  """{"image": [batch, h, w, 3]} -> logits [batch, 2]: class 0's score is the sum of a CNN's
  pooled features, class 1's its negative."""

  @nn.compact
  def __call__(self, inputs):
    pooled, _ = ConvNet(channels=(8, 8), name="cnn")(inputs["image"])
    return jnp.stack([pooled.sum(-1), -pooled.sum(-1)], -1)


def lit_square(row, col, size=16, side=3):
  """A dark image [size, size, 3] with one bright square whose top-left pixel is (row, col)."""
  x = np.zeros((size, size, 3), np.float32)
  x[row:row + side, col:col + side] = 1.0
  return x


def test_gradcam_peaks_where_the_evidence_is_and_hooks_change_nothing():
  model = Brightness()
  images = {"image": jnp.asarray(np.stack([lit_square(1, 2), lit_square(10, 11)]))}
  plain, variables = jax.jit(model.init_with_output)(jax.random.key(0), images)
  assert set(variables) == {"params"}  # the hooks add nothing to a checkpoint
  assert list(gradcam.hooks(model, variables, images)) == ["cnn/block0", "cnn/block1"]
  explain = jax.jit(lambda v, x, layer: gradcam.gradcam(model, v, x, layer, jnp.array([0, 0])),
                    static_argnums=2)
  maps, classes, logits = explain(variables, images, "cnn/block1")
  np.testing.assert_allclose(logits, plain, rtol=1e-6)
  assert maps.shape == (2, 8, 8) and bool((maps >= 0).all()) and classes.tolist() == [0, 0]
  # block1's 8 x 8 cells are 2 x 2 pixels: the squares' centres, pixels (2, 3) and (11, 12),
  # are cells (1, 1.5) and (5.5, 6); a 3 x 3 conv after the pool spreads evidence one cell.
  peaks = np.array([np.unravel_index(int(np.argmax(m)), m.shape) for m in np.asarray(maps)])
  assert np.abs(peaks - [[1, 1.5], [5.5, 6]]).max() <= 1, peaks
  assert float(maps[0, 6:, 6:].max()) == 0.0  # nothing far from the evidence
  # The first block's map (full resolution) points at the squares, within the one pixel a
  # 3 x 3 conv reaches.
  masks = np.asarray(images["image"][..., 0]) > 0
  fine, _, _ = explain(variables, images, "cnn/block0")
  assert pointing_game.pointing_game(fine, masks, tolerance=1.0)["hit_rate"] == 1.0
  with pytest.raises(ValueError, match="valid: cnn/block0, cnn/block1"):
    gradcam.gradcam(model, variables, images, "cnn/block9")


def vit(**kw):
  return ViT(patch_size=4, width=16, depth=2, num_heads=2, mlp_dim=32, attention="einsum", **kw)


def test_attention_capture_keeps_outputs_and_gives_each_layer():
  model, x = vit(), jax.random.normal(jax.random.key(1), (2, 8, 8, 3))
  plain, variables = jax.jit(model.init_with_output)(jax.random.key(0), x)
  assert set(variables) == {"params"}
  captured, state = jax.jit(lambda v: model.apply(v, x, mutable=["intermediates"]))(variables)
  jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, atol=1e-6), plain, captured)
  weights = attention.collect(state["intermediates"])
  assert len(weights) == 2 and all(w.shape == (2, 2, 5, 5) for w in weights.values())
  for w in weights.values():
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)
  rolled, token_map, heads = jax.jit(lambda w: (
      attention.rollout(w), attention.token_map(attention.rollout(w), True, (2, 2)),
      attention.head_maps(w[-1], True, (2, 2))))(list(weights.values()))
  np.testing.assert_allclose(rolled.sum(-1), 1.0, atol=1e-5)
  assert token_map.shape == (2, 2, 2) and heads.shape == (2, 2, 2, 2)
  # A cross-attention fusion's maps: 4 image tokens query 3 audio tokens (shapes only).
  fuse = CrossAttentionFusion(dim=16, num_heads=2)
  tokens, masks = [jnp.ones((2, 4, 8)), jnp.ones((2, 3, 6))], [None, None]
  _, state = jax.eval_shape(lambda: fuse.apply(fuse.init(jax.random.key(0), None, tokens, masks),
                                               None, tokens, masks, mutable=["intermediates"]))
  assert {k: v.shape for k, v in attention.collect(state["intermediates"]).items()} == {
      "query0_block0/attn": (2, 2, 4, 3)}
  # Scanned layers stack their weights; each layer comes out on its own (shapes only).
  scanned = vit(scan=True)
  shapes = jax.eval_shape(lambda: attention.attention_weights(
      scanned, scanned.init(jax.random.key(0), x), x))
  assert {k: v.shape for k, v in shapes.items()} == {
      "encoder/blocks/block/attn@0": (2, 2, 5, 5), "encoder/blocks/block/attn@1": (2, 2, 5, 5)}


def test_rollout_of_identity_is_identity_and_of_one_raw_layer_is_that_layer():
  eye = jnp.broadcast_to(jnp.eye(5), (3, 2, 5, 5))
  np.testing.assert_allclose(attention.rollout([eye, eye, eye]), jnp.broadcast_to(jnp.eye(5),
                                                                               (3, 5, 5)))
  a = jax.nn.softmax(jax.random.normal(jax.random.key(0), (3, 5, 5)), -1)
  np.testing.assert_allclose(attention.rollout([a], residual=0.0), a, rtol=1e-6)
  # Two layers multiply, the later one on the left.
  b = jax.nn.softmax(jax.random.normal(jax.random.key(1), (3, 5, 5)), -1)
  np.testing.assert_allclose(attention.rollout([a, b], residual=0.0), b @ a, rtol=1e-5)
  # A mean pool averages the rows; a class token's row drops its own column.
  r = attention.rollout([a], residual=0.0)
  np.testing.assert_allclose(attention.token_map(r, cls_token=False), a.mean(1), rtol=1e-6)
  np.testing.assert_allclose(attention.token_map(r, cls_token=True, grid=(2, 2)),
                             a[:, 0, 1:].reshape(3, 2, 2), rtol=1e-6)


def test_integrated_gradients_complete_and_exact_on_a_linear_model():
  w = jax.random.normal(jax.random.key(0), (6,))
  x = {"a": jax.random.normal(jax.random.key(1), (4, 6)), "b": jnp.ones((4, 2))}
  linear = lambda inputs: inputs["a"] @ w + inputs["b"].sum(-1)
  attributions = integrated_gradients.integrated_gradients(linear, x, {"a": jnp.zeros((4, 6))},
                                                           steps=3)
  np.testing.assert_allclose(attributions["a"], x["a"] * w, rtol=1e-5)  # b held fixed
  model = Brightness()
  images = {"image": jax.random.uniform(jax.random.key(2), (3, 16, 16, 3))}
  variables = jax.jit(model.init)(jax.random.key(0), images)
  out = jax.jit(lambda v, x: integrated_gradients.modality_attributions(
      model, v, x, ["image"], steps=64))(variables, images)
  change = out["score"] - out["baseline_score"]
  np.testing.assert_allclose(out["per_modality"]["image"], change, rtol=0.02)
  with pytest.raises(ValueError, match="token ids"):
    integrated_gradients.modality_attributions(
        model, variables, {**images, "text": jnp.ones((3, 4), jnp.int32)}, ["text"])


def test_token_attributions_land_on_the_one_word_a_model_reads_and_are_complete():
  """A bag of words whose only nonzero embedding is word 5's: every attribution is on the
  positions holding word 5, each equal (a mean of equal embeddings); padding gets none. A GRU
  and a Transformer text classifier: the positions' attributions sum to score - baseline."""
  from mmjax.models.attribute_classifier import AttributeClassifier
  tokens = jnp.array([[3, 5, 4, 5, 2, 0], [5, 7, 2, 0, 0, 0], [6, 7, 2, 0, 0, 0]])
  model = AttributeClassifier(num_classes={"a": 2}, modality="text", encoder="bag_of_words",
                              encoder_options=dict(vocab_size=10, width=4),
                              head_options=dict(hidden=()))
  variables = model.init(jax.random.key(0), tokens)
  params = jax.tree.map(jnp.zeros_like, variables["params"])
  params["tower"]["token_embedding"] = params["tower"]["token_embedding"].at[5].set(1.0)
  params["heads_a"]["out"]["kernel"] = jnp.ones_like(params["heads_a"]["out"]["kernel"])
  out = integrated_gradients.token_attributions(model, {**variables, "params": params}, tokens,
                                                lambda o: o["a"][:, 0], steps=4)
  # Mean over the non-padding tokens of 4 ones: 2 of 5 words -> 8/5, 1 of 3 -> 4/3.
  np.testing.assert_allclose(out["score"], [8 / 5, 4 / 3, 0], rtol=1e-6)
  expected = np.zeros((3, 6), np.float32)
  expected[0, [1, 3]], expected[1, 0] = 4 / 5, 4 / 3
  np.testing.assert_allclose(out["attributions"], expected, rtol=1e-6, atol=1e-7)
  for encoder, options in (("gru", dict(width=8, hidden=8)),
                           ("transformer", dict(width=16, depth=1, num_heads=2, mlp_dim=16,
                                                max_len=6))):
    model = AttributeClassifier(num_classes={"a": 3}, modality="text", encoder=encoder,
                                encoder_options=dict(vocab_size=10, **options))
    variables = model.init(jax.random.key(1), tokens)
    out = jax.jit(lambda v, x: integrated_gradients.token_attributions(
        model, v, x, lambda o: o["a"][:, 1], steps=64))(variables, tokens)
    np.testing.assert_allclose(out["attributions"].sum(1), out["score"] - out["baseline_score"],
                               rtol=0.02, atol=1e-5)
    assert np.all(np.asarray(out["attributions"])[tokens == 0] == 0)  # padding is not read
  images = {"image": jnp.zeros((1, 16, 16, 3))}
  with pytest.raises(ValueError, match="token_embeddings hook"):  # an image model has none
    integrated_gradients.token_attributions(
        Brightness(), Brightness().init(jax.random.key(0), images), images, lambda o: o[:, 0])


def test_pointing_game_baselines_are_exact_and_masks_match_the_renderer_and_speech():
  mask = np.zeros((4, 4), bool)
  mask[1, 1:3] = mask[2, 1] = True
  # Every one-hot map at image resolution: the hit rate of a uniformly random peak.
  maps = np.eye(16, dtype=np.float32).reshape(16, 4, 4)
  game = pointing_game.pointing_game(maps, np.broadcast_to(mask, (16, 4, 4)))
  assert game["hit_rate"] == game["random_baseline"] == 3 / 16
  assert game["centre_baseline"] == 0.0  # pixel (2, 2) is not on it
  assert game["best_fixed_baseline"] == 1.0  # every example has the same object
  one = np.zeros((1, 5, 5), bool)
  one[0, 2, 2] = True
  assert pointing_game.dilate(one, 1.0).sum() == 5 and pointing_game.dilate(one, 1.5).sum() == 9
  assert pointing_game.pointing_game(np.ones((1, 2, 2)), one, 1.0)["random_baseline"] == 5 / 25
  # Tokens over time: a peak on the named word's tokens hits; the baseline is their share.
  on = np.array([[False, True, True, False]] * 2)
  game = pointing_game.pointing_game_tokens(np.array([[0, 0, 1, 0], [1, 0, 0, 0.5]]), on)
  assert game["hits"].tolist() == [True, False] and game["random_baseline"] == 0.5
  assert game["best_fixed_baseline"] == 1.0
  # Patches of 4 frames every 2; 160-sample frames every 160: patch 1 is frames 2-5, samples
  # [320, 960).
  np.testing.assert_array_equal(pointing_game.token_centres(3, 4, 2, 160, 160),
                                [320, 640, 960])
  world = SceneWorld(seed=0, image_size=16, max_objects=1, task="redundant",
                     audio_seconds=1.5)
  words = pointing_game.word_masks(world, "test", [0], 12000)[0]
  ex = world.example("test", 0, ("audio",))
  said = world.views("test", 0).spoken.objects[0].shape
  k = list(ex["transcript"]).index(said)
  assert words.sum() == ex["word_ends"][k] - ex["word_starts"][k] > 0
  assert words[ex["word_starts"][k]:ex["word_ends"][k]].all()
  scene = Scene((Object("triangle", "red", "large", 0.4, 0.6),))
  drawn = render.render(scene, 32)[..., 1] != render.DEFAULT_BACKGROUND
  np.testing.assert_array_equal(pointing_game.object_mask(scene.objects[0], 32), drawn)


def test_command_explains_a_tiny_run(tmp_path):
  from experiments import fusion_classification
  from mmjax.interpret.explain import explain
  from mmjax.registry import ConfigError
  config = preset("configs/fusion.py:tiny", **{"model.modalities": ("image",)})
  workdir = str(tmp_path / "run")
  with pytest.raises(FileNotFoundError):  # before training: no config.json
    explain(workdir, "gradcam")
  fusion_classification.run(config, workdir)
  with pytest.raises(ConfigError, match="needs an image encoder among vit"):
    explain(workdir, "rollout")
  scores = explain(workdir, "gradcam", num_examples=12, num_drawn=4, batch_size=6)
  game = scores["pointing_game"]
  assert game["num_maps"] == 12 and scores["layer"] == "towers_image/block0"
  # The tiny world's objects cover 5-18 % of the image, as a random map's peak finds them.
  assert 0.03 < game["random_baseline"] < 0.2 and 0.0 <= game["hit_rate"] <= 1.0
  with open(os.path.join(workdir, "interpret", "gradcam", "scores.json")) as f:
    assert json.load(f)["pointing_game"]["random_baseline"] == game["random_baseline"]
  assert os.path.getsize(os.path.join(workdir, "interpret", "gradcam", "maps.png")) > 1000


def test_audio_time_map_follows_the_ast_patches():
  from mmjax.interpret.explain import audio_time_map
  from mmjax.models.audio.ast import AudioSpectrogramTransformer
  from mmjax.tasks.classification import SMALL_ENCODERS
  options = dict(SMALL_ENCODERS["audio"]["ast"], sample_rate=8000.0, num_mel_bins=64,
                 patch_size=(4, 32), patch_stride=(2, 32))  # 2 frequency patches
  ast = AudioSpectrogramTransformer(**options)
  waves = jnp.zeros((1, 12000))
  _, tokens = jax.eval_shape(lambda: ast.apply(ast.init(jax.random.key(0), waves), waves))
  maps = np.arange(tokens.shape[1], dtype=np.float32)[None]
  per_time, centres = audio_time_map(options, maps, 12000)
  # 25 ms frames (200 samples) every 20 ms (160) at 8 kHz: 74 frames, (74 - 4) // 2 + 1 = 36
  # time patches; the first spans samples [0, 3 * 160 + 200).
  assert per_time.shape == (1, 36) == (1, tokens.shape[1] // 2)
  np.testing.assert_array_equal(per_time[0, :2], [0 + 1, 2 + 3])  # frequency patches summed
  assert centres[0] == (3 * 160 + 200) // 2 and centres[-1] < 12000


def test_decoder_cross_attention_is_sown_without_changing_the_logits():
  from mmjax.models.captioner import Captioner
  model = Captioner(image=dict(patch_size=4, width=16, depth=1, num_heads=2, mlp_dim=32),
                    decoder=dict(vocab_size=12, max_len=6, width=16, depth=2, num_heads=2,
                                 mlp_dim=32))
  images = jax.random.normal(jax.random.key(1), (2, 16, 16, 3))
  tokens = jax.random.randint(jax.random.key(2), (2, 6), 0, 12)
  variables = model.init(jax.random.key(0), images, tokens)
  plain = model.apply(variables, images, tokens)
  seen, state = model.apply(variables, images, tokens, mutable=["intermediates"])
  np.testing.assert_allclose(seen, plain, atol=1e-5)
  layers = attention.collect(state["intermediates"], "text_decoder")
  assert len(layers) == 2  # one cross-attention per decoder block, over the 16 patches
  for w in layers.values():
    assert w.shape == (2, 2, 6, 16)
    np.testing.assert_allclose(w.sum(-1), 1.0, atol=1e-5)


def test_caption_words_point_at_the_objects_they_name(tmp_path, monkeypatch):
  from experiments import captioning as captioning_experiment
  from mmjax.data import sources
  from mmjax.interpret import captions
  scene = Scene((Object("circle", "red", "small", 0.3, 0.3),
                 Object("circle", "blue", "large", 0.7, 0.7)), "above")
  # "circle" names two objects: not scored; each colour names one.
  assert [(t, k, w) for t, k, w, _ in captions.named_objects(
      scene, "a small red circle above a large blue circle".split())] == [
          (2, "colour", "red"), (7, "colour", "blue")]
  config = preset("configs/captioning.py:tiny")
  workdir = str(tmp_path / "run")
  captioning_experiment.run(config, workdir)
  # The tiny run's own captions may name nothing yet: score the true captions instead, as
  # if it had generated them (the maps still come from its decoder).
  world = sources.build(config.data)
  truth = [world.example("test", i, ("caption",))["caption"] for i in range(8)]
  from mmjax.data.tokenizer import WordTokenizer
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  monkeypatch.setattr(captions.captioning, "caption_images", lambda *a, **k: np.asarray(
      tokenizer.encode_batch(truth, config.data.text_len)))
  scores = captions.explain_captions(workdir, num_examples=8, num_drawn=3, batch_size=4)
  named = [captions.named_objects(world.scene("test", i), tokenizer.words(c))
           for i, c in enumerate(truth)]
  game = scores["pointing_game"]
  assert game["num_maps"] == sum(map(len, named)) > 0
  masks = [pointing_game.object_mask(o, config.data.image_size) for n in named for *_, o in n]
  assert game["random_baseline"] == pytest.approx(np.mean(masks))
  assert scores["grid"] == [config.data.image_size // config.model.image.vit.patch_size] * 2
  out = os.path.join(workdir, "interpret", "cross_attention")
  assert os.path.getsize(os.path.join(out, "maps.png")) > 1000
  with open(os.path.join(out, "scores.json")) as f:
    assert json.load(f)["pointing_game"] == game


def test_vqa_gradcam_points_at_the_object_the_question_names(tmp_path):
  from experiments import vqa
  from mmjax.data import sources
  from mmjax.data.tokenizer import WordTokenizer
  from mmjax.interpret import captions, questions
  config = preset("configs/vqa.py:tiny")
  workdir = str(tmp_path / "run")
  vqa.run(config, workdir)
  scores = questions.explain_questions(workdir, num_examples=24, num_drawn=3, batch_size=8)
  # Independently: the colour / shape / size questions whose words name one object.
  world = sources.build(config.data)
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  masks = []
  for i in range(24):
    qa = world.example("test", i, ("qa",))
    named = {id(o): o for *_, o in captions.named_objects(world.scene("test", i),
                                                          tokenizer.words(qa["question"]))}
    if qa["question_type"] in questions.SCORED_TYPES and len(named) == 1:
      masks.append(pointing_game.object_mask(next(iter(named.values())),
                                             config.data.image_size))
  game = scores["pointing_game"]
  assert game["num_maps"] == len(masks) > 0
  assert game["random_baseline"] == pytest.approx(np.mean(masks))
  assert scores["layer"] == "classifier/towers_image/block0"
  assert os.path.getsize(os.path.join(workdir, "interpret", "gradcam", "maps.png")) > 1000


class OneAttention(nn.Module):
  """x [batch, n, 8] -> [batch, 8]: one self-attention layer (2 heads), its first token out."""

  @nn.compact
  def __call__(self, x):
    from mmjax.models.transformer import MultiHeadAttention
    return MultiHeadAttention(num_heads=2, attention="einsum", name="attn")(x)[:, 0]


def test_gradient_rollout_weights_attention_by_the_scores_gradient():
  """One layer: R = I + mean_heads(relu(dS/dA * A)), dS/dA computed by hand from the layer's
  values and output projection; scanned layers give the same as unscanned ones; a score that
  does not depend on the attention leaves R = I."""
  model, x = OneAttention(), jax.random.normal(jax.random.key(1), (3, 5, 8))
  variables = model.init(jax.random.key(0), x)
  w = jax.random.normal(jax.random.key(2), (8,))
  score = lambda out: out @ w
  relevance = attention.gradient_rollout(model, variables, x, score, "attn")
  # By hand: out_0 = W_out (concat_h A_h[0] V_h), so dS/dA_h[0, k] = V_h[k] . (W_out^T w)_h.
  p = variables["params"]["attn"]
  qkv = x @ p["qkv"]["kernel"]
  v = qkv[..., 16:].reshape(3, 5, 2, 4)
  back = (p["out"]["kernel"] @ w).reshape(2, 4)
  _, state = model.apply(variables, x, mutable=["intermediates"])
  a = attention.collect(state["intermediates"])["attn"]  # [3, 2, 5, 5]
  grad = jnp.zeros_like(a).at[:, :, 0, :].set(jnp.einsum("bkhd,hd->bhk", v, back))
  want = jnp.eye(5) + jax.nn.relu(grad * a).mean(1)
  np.testing.assert_allclose(relevance, want, atol=1e-5)
  blind = attention.gradient_rollout(model, variables, x, lambda out: 0.0 * out.sum(-1), "attn")
  np.testing.assert_allclose(blind, jnp.broadcast_to(jnp.eye(5), (3, 5, 5)), atol=1e-7)
  images = jax.random.normal(jax.random.key(3), (2, 8, 8, 3))
  plain, scanned = vit(), vit(scan=True)
  pv = plain.init(jax.random.key(0), images)
  sv = {"params": {**pv["params"], "encoder": {"blocks": {"block": jax.tree.map(
      lambda *t: jnp.stack(t), *[pv["params"]["encoder"][f"block{i}"] for i in range(2)])}}}}
  pooled_sum = lambda out: out[0].sum(-1)
  np.testing.assert_allclose(
      attention.gradient_rollout(scanned, sv, images, pooled_sum, "encoder"),
      attention.gradient_rollout(plain, pv, images, pooled_sum, "encoder"), atol=1e-5)


def test_contrastive_maps_follow_a_caption_of_one_object(tmp_path):
  """The command on a tiny contrastive run: one query per object with a phrase of its own,
  captioned as a one-object scene; the random and text-blind baselines computed
  independently; Grad-CAM for a CNN image tower, rollout for a ViT, and a clear error for
  the wrong pairing."""
  from experiments import contrastive
  from mmjax.data import sources
  from mmjax.interpret import retrieval
  from mmjax.registry import ConfigError
  config = preset("configs/contrastive.py:tiny")
  workdir = str(tmp_path / "vit")
  contrastive.run(config, workdir)
  with pytest.raises(ConfigError, match="--method=gradcam on a contrastive run with a vit "
                                        "image tower; valid: --method=rollout for a vit"):
    retrieval.explain_retrieval(workdir, "gradcam")
  scores = retrieval.explain_retrieval(workdir, "rollout", num_examples=10, num_drawn=3,
                                       batch_size=4)
  world = sources.build(config.data)
  rows = [(i, o) for i in range(10) for o, _ in retrieval.queries(world.scene("test", i))]
  masks = np.stack([pointing_game.object_mask(o, config.data.image_size) for _, o in rows])
  game = scores["pointing_game"]
  assert game["num_maps"] == scores["num_queries"] == len(rows) > 10
  assert game["random_baseline"] == pytest.approx(masks.mean())
  image_of = np.array([i for i, _ in rows])
  best = sum(masks[image_of == i].sum(0).max() for i in set(image_of.tolist())) / len(rows)
  assert game["query_blind_ceiling"] == pytest.approx(best)
  multi = scores["pointing_game_multi_object"]
  assert multi["every_query_hit"]["num_images"] > 0
  # Plain rollout ignores the text: it never beats the text-blind ceiling.
  control = scores["rollout_control"]["pointing_game_multi_object"]
  assert control["hit_rate"] <= control["query_blind_ceiling"] + 1e-9
  assert os.path.getsize(os.path.join(workdir, "interpret", "rollout", "maps.png")) > 1000
  assert retrieval.queries(Scene(objects=(Object("circle", "red", "small", 0.3, 0.3),)))[0][1] \
      == "a small red circle"
  cnn = str(tmp_path / "cnn")
  contrastive.run(preset("configs/contrastive.py:tiny", **{
      "model.image.name": "cnn", "model.image.cnn.channels": (4,)}), cnn)
  scores = retrieval.explain_retrieval(cnn, "gradcam", num_examples=6, num_drawn=0,
                                       batch_size=4)
  assert 0.0 <= scores["pointing_game"]["hit_rate"] <= 1.0 and "rollout_control" not in scores


def test_video_gradcam_maps_every_frame_on_the_object_the_label_is_about(tmp_path):
  """A tiny video run: one Grad-CAM map per frame; direction's frames score on the mover where
  each frame draws it (checked against the clip's own positions), event's only on the frames
  that show the other object."""
  from experiments import video_classification
  from mmjax.data import sources
  from mmjax.interpret import video
  from mmjax.registry import ConfigError
  config = preset("configs/video.py:tiny")
  workdir = str(tmp_path / "run")
  video_classification.run(config, workdir)
  scores = video.explain_video(workdir, num_examples=6, num_drawn=8, batch_size=4)
  world = sources.build(config.data)
  size, frames = config.data.image_size, config.data.source.clips.frames
  movers = np.stack([pointing_game.object_mask(world.clip("test", i).mover_at(f), size)
                     for i in range(6) for f in range(frames)])
  game = scores["pointing_game"]
  assert scores["label"] == "direction" and scores["frames"] == frames
  assert game["num_maps"] == 6 * frames
  assert game["random_baseline"] == pytest.approx(movers.mean())
  assert sum(scores["frame_share"]) == pytest.approx(1.0, abs=1e-5)
  assert os.path.getsize(os.path.join(workdir, "interpret", "gradcam", "maps.png")) > 1000
  clip = world.clip("test", 0)
  shown = video.frame_masks(clip, "event", size).any(axis=(1, 2))
  assert shown.tolist() == [len(clip.scene(f).objects) == 2 for f in range(frames)]
  assert 0 < shown.sum() < frames
  # A label about no one object (is the tone on the event?) has nothing to point at.
  config.data.label = "sync"
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort())
  with pytest.raises(ConfigError, match="a label about one object: data.label in direction"):
    video.explain_video(workdir)


def test_speech_rollout_scores_each_word_the_recogniser_writes(tmp_path):
  """CTC emission points (a run's first frame), and the command on a tiny speech run: every
  scored word is one its caption says once, its map is over the AST's time patches, and the
  random and emitting-frame baselines come out of the same word spans."""
  from experiments import speech_recognition
  from mmjax.interpret import speech
  assert speech.emitted_words(np.array([0, 3, 3, 0, 3, 5, 5, 0]), blank=0) == [
      (1, 3), (4, 3), (5, 5)]
  # 60 steps: the tiny recogniser writes a few words by then (4 steps write none).
  config = preset("configs/speech_recognition.py:tiny", total_steps=60,
                  **{"checkpoint.every_steps": 60})
  workdir = str(tmp_path / "run")
  speech_recognition.run(config, workdir)
  scores = speech.explain_speech(workdir, num_examples=16, num_drawn=2, batch_size=8)
  game = scores["pointing_game"]
  assert 0 < game["num_maps"] <= scores["num_words_emitted"]
  assert 0.0 < game["random_baseline"] < 0.5  # a word is a short part of the clip
  assert 0.0 <= game["emitting_frame_baseline"] <= 1.0 and 0.0 <= game["hit_rate"] <= 1.0
  assert os.path.getsize(os.path.join(workdir, "interpret", "rollout", "audio.png")) > 1000


def test_fusion_cross_attention_maps_text_tokens_on_the_image(tmp_path):
  """A tiny image + text run fused by bidirectional cross-attention: the text-as-query blocks
  give one map per caption token over the CNN's grid; the scored words are those naming one
  object the image shows (counted independently); a one-way fusion whose queries are the image
  names the fix."""
  from experiments import fusion_classification
  from mmjax.data import sources
  from mmjax.data.tokenizer import WordTokenizer
  from mmjax.interpret import captions, fusion_attention
  from mmjax.registry import ConfigError
  xattn = {"model.modalities": ("image", "text"), "model.fusion.name": "cross_attention",
           "model.fusion.cross_attention.dim": 16, "model.fusion.cross_attention.num_heads": 2,
           "data.source.shapes.task.name": "synergy"}
  config = preset("configs/fusion.py:tiny", **xattn)
  workdir = str(tmp_path / "run")
  fusion_classification.run(config, workdir)
  scores = fusion_attention.explain_fusion_attention(workdir, num_examples=12, num_drawn=3,
                                                     batch_size=6)
  world = sources.build(config.data)
  tokenizer = WordTokenizer.load(os.path.join(workdir, "vocab.json"))
  named = 0
  for i in range(12):
    words = tokenizer.words(world.example("test", i, ("caption",))["caption"])
    named += len(captions.named_objects(world.views("test", i).image, words))
  game = scores["pointing_game"]
  assert game["num_maps"] == named > 0 and 0.0 <= game["hit_rate"] <= 1.0
  assert os.path.getsize(os.path.join(workdir, "interpret", "cross_attention", "maps.png")) > 1000
  one_way = str(tmp_path / "one_way")
  fusion_classification.run(preset("configs/fusion.py:tiny", **xattn, **{
      "model.fusion.cross_attention.bidirectional": False}), one_way)
  with pytest.raises(ConfigError, match="no block whose queries are the text.*bidirectional"):
    fusion_attention.explain_fusion_attention(one_way, num_examples=4, batch_size=4)


def test_deletion_erases_the_top_pixels_a_map_orders_first():
  """erase_top sets exactly the top fraction of pixels by the order to each image's darkest
  value (or `fill`); deletion gives the model's outputs after each erasure: a model that reads
  one pixel changes its mind when the map erases that pixel first, not when a map puts it
  last."""
  from mmjax.interpret import deletion, digits
  images = np.zeros((2, 4, 4, 1), np.float32)
  images[:, 1, 2] = 1.0  # each image's one bright pixel
  images[1, 3, 3] = -1.0  # the second image's darkest value
  order = np.arange(16, dtype=np.float32).reshape(1, 4, 4).repeat(2, 0)  # bottom right first
  erased = deletion.erase_top(images, order, 2 / 16)
  changed = erased != images
  assert changed[0].sum() == 0  # its top pixels (3, 2), (3, 3) already hold its darkest, 0
  assert changed[1].sum() == 1 and erased[1, 3, 2, 0] == -1.0
  grey = deletion.erase_top(images, order, 2 / 16, fill=0.5)
  assert (grey[:, 3, 2:] == 0.5).all() and (grey[:, :3] == images[:, :3]).all()
  assert digits.ink_masks(images)[0].sum() == 1 and digits.ink_masks(images)[1, 1, 2]
  predict = lambda v, x: (x["image"][:, 1, 2, 0] > 0.5).astype(jnp.int32)  # the bright pixel
  on_it = np.zeros((2, 4, 4), np.float32)
  on_it[:, 1, 2] = 1.0
  after = deletion.deletion(predict, {}, {"image": images}, {"on": on_it, "off": -on_it}, 2)
  assert {p: c.tolist() for p, c in after["on"].items()} == {
      f"top_{p}_percent": [0, 0] for p in deletion.PERCENTS}
  assert {p: c.tolist() for p, c in after["off"].items()} == {
      f"top_{p}_percent": [1, 1] for p in deletion.PERCENTS}


def test_event_gradcam_maps_the_frame_that_shows_the_change(tmp_path):
  """A tiny event localisation run: one map per frame for each in-sync clip's event segment;
  the scored frame shows the object that appears or disappears (checked against the clip's own
  scenes); without a temporal Transformer the mass sits on the two boundary frames."""
  from experiments import av_event_localisation
  from mmjax.data import sources
  from mmjax.interpret import events
  from mmjax.registry import ConfigError
  config = preset("configs/av_events.py:tiny")
  workdir = str(tmp_path / "run")
  av_event_localisation.run(config, workdir)
  scores = events.explain_events(workdir, num_examples=10, num_drawn=16, batch_size=4)
  world = sources.build(config.data)
  synced = [world.clip("test", i) for i in range(10) if world.clip("test", i).sync]
  size = config.data.image_size
  others = np.stack([pointing_game.object_mask(c.other, size) for c in synced])
  game = scores["pointing_game"]
  assert scores["num_events"] == game["num_maps"] == len(synced) > 0
  assert game["random_baseline"] == pytest.approx(others.mean())
  for clip in synced:
    shown = clip.scene(events.evidence_frame(clip)).objects
    assert len(shown) == 2 and clip.other in shown
  share = scores["frame_share_by_offset"]
  assert config.model.encoders.video.frames.temporal == "mean"
  assert share["-1"] + share["0"] == pytest.approx(1.0, abs=1e-5)
  assert 0.0 <= scores["evidence_frame_share"] <= 1.0
  assert os.path.getsize(os.path.join(workdir, "interpret", "gradcam", "maps.png")) > 1000
  config.model.modalities = ("audio",)  # nothing seen, nothing to map
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort())
  with pytest.raises(ConfigError, match="needs video through the encoder `frames`"):
    events.explain_events(workdir)


@pytest.mark.parametrize("config_arg,kind", [
    ("configs/fusion.py:tiny", "classification"), ("configs/av_mnist.py:tiny", "digits"),
    ("configs/captioning.py:tiny", "captioning"), ("configs/vqa.py:tiny", "vqa"),
    ("configs/contrastive.py:tiny", "contrastive"), ("configs/video.py:tiny", "video"),
    ("configs/av_events.py:tiny", "events"), ("configs/speech_recognition.py:tiny", "speech"),
    ("configs/video_retrieval.py:tiny", "video_retrieval"),
    ("configs/video_captioning.py:tiny", "video_captioning"),
    ("configs/lit_coco.py:tiny", "lit_coco")])
def test_the_command_knows_which_experiment_wrote_a_run(tmp_path, config_arg, kind):
  """Each experiment's config.json names its kind of map; a multi-stage workdir's error names
  its stages, and a stage's run without the experiment's whole config (older code) says what
  maps cover."""
  from mmjax.interpret.__main__ import KINDS, run_kind
  from mmjax.registry import ConfigError
  with open(tmp_path / "config.json", "w") as f:
    f.write(preset(config_arg).to_json_best_effort())
  assert kind in KINDS and run_kind(str(tmp_path)) == kind
  parent = tmp_path / "stages"  # a run per stage; the finetune one's model is a head only
  for stage, model in (("pretrain", {"embed_dim": 8}), ("finetune", {"head": {}})):
    os.makedirs(parent / stage)
    with open(parent / stage / "config.json", "w") as f:
      json.dump({"model": model, "data": {}}, f)
  with pytest.raises(ConfigError, match=r"multi-stage experiment \(finetune, pretrain\)"):
    run_kind(str(parent))
  with pytest.raises(ConfigError, match="one stage of a multi-stage experiment whose whole"):
    run_kind(str(parent / "finetune"))


def test_video_retrieval_gradcam_maps_every_frame_on_the_objects_the_caption_names(tmp_path):
  """A tiny video-text run: one map per frame for the similarity with the clip's caption; a hit
  is a peak on either object the frame shows (checked against the clip's own scenes)."""
  from experiments import video_retrieval
  from mmjax.data import sources
  from mmjax.interpret import video_retrieval as maps
  from mmjax.registry import ConfigError
  config = preset("configs/video_retrieval.py:tiny")
  workdir = str(tmp_path / "run")
  video_retrieval.run(config, workdir)
  scores = maps.explain_video_retrieval(workdir, num_examples=5, num_drawn=8, batch_size=2)
  world = sources.build(config.data)
  size, frames = config.data.image_size, config.data.source.clips.frames
  named = np.stack([np.any([pointing_game.object_mask(o, size)
                            for o in world.clip("test", i).scene(f).objects], axis=0)
                    for i in range(5) for f in range(frames)])
  game = scores["pointing_game"]
  assert game["num_maps"] == 5 * frames and scores["frames"] == frames
  assert game["random_baseline"] == pytest.approx(named.mean())
  assert 0.0 <= game["untrained_model"] <= 1.0
  assert scores["peak_on"]["mover"] <= game["hit_rate"]  # a peak on the mover is a hit
  assert os.path.getsize(os.path.join(workdir, "interpret", "gradcam", "maps.png")) > 1000
  config.model.video.name = "vivit"  # space-time patches: no per-frame feature map
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort())
  with pytest.raises(ConfigError, match="needs the video tower `frames` over a cnn"):
    maps.explain_video_retrieval(workdir)


def test_video_caption_words_point_at_the_frames_of_what_they_name(tmp_path):
  """A tiny video captioning run: each event word's map over the frames scores on the two
  frames beside the clip's boundary (one shows the other object, one does not: checked against
  the clip's scenes), each word naming only the other object on the frames that show it."""
  from experiments import video_captioning
  from mmjax.data import sources
  from mmjax.interpret import video_captions
  from mmjax.registry import ConfigError
  config = preset("configs/video_captioning.py:tiny")
  workdir = str(tmp_path / "run")
  video_captioning.run(config, workdir)
  world = sources.build(config.data)
  clip = world.clip("test", 0)
  words = ["a", clip.other.colour, "thing", clip.event, clip.mover.shape]
  targets = video_captions.word_targets(clip, words)
  event = [t for t in targets if t[1] == "event"]
  assert [t[0] for t in event] == [3]
  assert sorted(len(clip.scene(f).objects) for f in np.flatnonzero(event[0][3])) == [1, 2]
  for position, kind, word, on in targets:
    if kind == "other_object":
      assert position == 1 and word == clip.other.colour != clip.mover.colour
      assert on.tolist() == [len(clip.scene(f).objects) == 2 for f in range(clip.frames)]
  scores = video_captions.explain_video_captions(workdir, num_examples=10, num_drawn=4,
                                                 batch_size=5)
  assert scores["frames"] == config.data.source.clips.frames
  games = {k: v for k, v in scores.items() if k.startswith("pointing_game_")}
  assert games, scores  # 4 steps already write event or object words
  for game in games.values():
    assert 0.0 <= game["untrained_model"] <= 1.0 and game["num_maps"] > 0
  config.model.decoder.name = "lstm"  # attends to nothing
  with open(os.path.join(workdir, "config.json"), "w") as f:
    f.write(config.to_json_best_effort())
  with pytest.raises(ConfigError, match="needs a decoder that attends to one token per frame"):
    video_captions.explain_video_captions(workdir)


def test_finetuned_classifiers_are_rebuilt_from_the_experiments_whole_config(tmp_path):
  """A tiny pretrain_finetune run writes its whole config above its stages; each classifier
  stage (from the pretrained tower, from scratch) is mapped on the first object of each test
  scene, the object its label describes; the pretraining stage is a contrastive run."""
  from experiments import pretrain_finetune
  from mmjax.data import sources
  from mmjax.interpret import finetuned
  from mmjax.interpret.__main__ import run_kind
  from mmjax.registry import ConfigError
  config = preset("configs/pretrain_finetune.py:tiny")
  workdir = tmp_path / "run"
  pretrain_finetune.run(config, str(workdir))
  with pytest.raises(ConfigError, match=r"multi-stage experiment \(finetune, pretrain, scratch\)"):
    run_kind(str(workdir))
  assert run_kind(str(workdir / "pretrain")) == "contrastive"
  world = sources.build(config.data)
  size = config.data.image_size
  first = np.stack([pointing_game.object_mask(s.objects[s.reading_order()[0]], size)
                    for s in (world.scene("test", i) for i in range(8))])
  for stage in finetuned.STAGES:
    assert run_kind(str(workdir / stage)) == "finetuned"
    scores = finetuned.explain_finetuned(str(workdir / stage), "gradcam", num_examples=8,
                                         num_drawn=2, batch_size=4)
    game = scores["pointing_game"]
    assert scores["stage"] == stage and scores["task"] == config.downstream.task
    assert game["num_maps"] == 8 and game["random_baseline"] == pytest.approx(first.mean())
    assert 0.0 <= game["untrained_model"] <= 1.0
  with pytest.raises(ConfigError, match="--method=rollout on a cnn image tower"):
    finetuned.explain_finetuned(str(workdir / "scratch"), "rollout")
  os.remove(workdir / "config.json")  # a run of older code: its stages cannot be rebuilt
  with pytest.raises(ConfigError, match="whose whole config is not beside it"):
    run_kind(str(workdir / "finetune"))


def test_translation_stages_map_the_image_judge_and_the_captioner(tmp_path):
  """A tiny translation run of the caption route: the image judge's heads each mapped on the
  first object; the text judge's heads each scored on the first object's word (found in the
  caption, and named by the right attribute); the captioner (a Transformer over CNN tokens
  here) mapped with the vocabulary the experiment keeps above its stages."""
  from experiments import translation
  from mmjax.interpret.__main__ import run_kind
  from mmjax.interpret.attributes import explain_attributes
  from mmjax.interpret.captions import explain_captions
  from mmjax.interpret.explain import synthetic_world
  from mmjax.interpret.text_judge import explain_text_judge, word_positions
  config = preset("configs/translation.py:tiny", mode="caption_route", **{
      "stages.captioner.model.decoder.name": "transformer",
      "stages.captioner.model.decoder.transformer.width": 16,
      "stages.captioner.model.decoder.transformer.mlp_dim": 32,
      "stages.captioner.model.features": "tokens"})
  workdir = tmp_path / "run"
  translation.run(config, str(workdir))
  assert run_kind(str(workdir / "image_classifier")) == "attributes"
  assert run_kind(str(workdir / "captioner")) == "captioning"
  assert run_kind(str(workdir / "text_classifier")) == "text_judge"
  scores = explain_attributes(str(workdir / "image_classifier"), num_examples=8, num_drawn=2,
                              batch_size=4)
  for attribute in ("shape", "colour", "size"):
    game = scores[f"pointing_game_{attribute}"]
    assert game["num_maps"] == 8 and 0.0 <= game["untrained_model"] <= 1.0
  scores = explain_text_judge(str(workdir / "text_classifier"), num_examples=8, num_drawn=2,
                              steps=4, batch_size=4)
  world = synthetic_world(config)
  words = [c.split() for c in (world.example("test", i, ("caption",))["caption"]
                               for i in range(8))]
  for attribute in ("shape", "colour", "size"):
    game = scores[f"pointing_game_{attribute}"]
    assert game["num_maps"] == 8 and 0.0 <= game["untrained_model"] <= 1.0
    # one word of each caption is the answer: the random baseline is 1 / its length
    assert game["random_baseline"] == pytest.approx(np.mean([1 / len(w) for w in words]))
  assert (workdir / "text_classifier" / "interpret" / "integrated_gradients" / "maps.png"
          ).exists()
  first = world.scene("test", 0).objects[world.scene("test", 0).reading_order()[0]]
  at = word_positions(words[0], first)
  assert words[0][at["colour"]] == first.colour and words[0][at["shape"]] == first.shape
  big, small = Object("circle", "red", "large", 0, 0), Object("square", "blue", "small", 0, 0)
  caption = "a small blue square right of a large red circle".split()
  assert word_positions(caption, big) == {"shape": 9, "colour": 8, "size": 7}
  assert word_positions(caption + ["and", "a", "large", "red", "circle"], big) == dict.fromkeys(
      ("shape", "colour", "size"))  # twice: the caption does not say which
  assert word_positions(caption, small)["size"] == 1
  assert not (workdir / "captioner" / "vocab.json").exists()
  try:
    explain_captions(str(workdir / "captioner"), num_examples=8, batch_size=4)
  except ValueError as e:  # 4 steps may name no object yet: the vocabulary loaded, it ran
    assert "nothing to score" in str(e)
