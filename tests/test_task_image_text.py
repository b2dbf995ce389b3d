"""mmjax.tasks.image_text, what the image-text experiments share: the two-tower model a config
section describes (the same parameters as the model built by hand), the contrastive loss
function, image-caption data from a source, the embedding evaluation, and the COCO source."""

import json

import jax
import jax.numpy as jnp
import ml_collections
import numpy as np
import pytest

from mmjax.data import sources
from mmjax.data.synthetic import SceneWorld
from mmjax.data.synthetic.scenes import ATTRIBUTES
from mmjax.data.tfds import CocoCaptionsSource
from mmjax.data.tokenizer import WordTokenizer
from mmjax.losses.contrastive import siglip_loss
from mmjax.models import TwoTower
from mmjax.registry import ConfigError
from mmjax.tasks import image_text
from tests.scripts import preset

CLASSES = {a: ATTRIBUTES[a] for a in ("shape", "colour")}


def tiny_model_section(loss="softmax"):
  return ml_collections.ConfigDict(dict(
      image=dict(name="cnn", cnn=dict(channels=(4,)), vit=dict(width=8)),
      text=dict(name="bag_of_words", bag_of_words=dict(width=8)),
      embed_dim=8, loss=loss))


def tree_equal(a, b) -> bool:
  return jax.tree.structure(a) == jax.tree.structure(b) and all(
      np.array_equal(x, y) for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b)))


def test_two_tower_is_the_model_built_by_hand_with_data_fields_filled():
  m = preset("configs/contrastive.py:tiny").model
  model = image_text.two_tower(m, vocab_size=40, text_len=12)
  by_hand = TwoTower(image_encoder="vit", image=dict(m.image.vit), text_encoder="transformer",
                     text={**dict(m.text.transformer), "vocab_size": 40, "max_len": 12},
                     embed_dim=m.embed_dim)
  x, t = jnp.zeros((1, 32, 32, 3)), jnp.zeros((1, 12), jnp.int32)
  assert tree_equal(model.init(jax.random.key(3), x, t), by_hand.init(jax.random.key(3), x, t))
  assert model.text["vocab_size"] == 40 and model.text["max_len"] == 12
  assert model.logit_scale_init == pytest.approx(np.log(1 / 0.07)) and model.logit_bias_init == 0
  sig = image_text.two_tower(tiny_model_section("sigmoid"), vocab_size=40, text_len=12)
  assert (sig.logit_scale_init, sig.logit_bias_init) == (pytest.approx(np.log(10.0)), -10.0)


def test_two_tower_errors_name_the_config_key():
  m = tiny_model_section()
  with m.unlocked():
    m.text.bag_of_words.vocab_size = 10  # the config's value wins over the tokenizer's ...
  with pytest.raises(ConfigError, match=r"stages.pretrain.model.text.bag_of_words.vocab_size=10 "
                                        r"is smaller than the tokenizer's vocabulary \(40\)"):
    image_text.two_tower(m, 40, 12, key="stages.pretrain.model")  # ... unless too small.
  m = tiny_model_section(loss="infonce")
  with pytest.raises(ConfigError, match=r"model.loss='infonce'. Valid choices: sigmoid, softmax"):
    image_text.two_tower(m, 40, 12)


@pytest.mark.parametrize("config_arg,section", [("configs/contrastive.py", "model"),
                                                ("configs/pretrain_finetune.py",
                                                 "stages.pretrain.model")])
def test_every_tower_alternative_of_the_configs_builds(config_arg, section):
  c = preset(config_arg)
  m = c
  for part in section.split("."):
    m = m[part]
  s, n = c.data.image_size, c.data.text_len
  for tower in ("image", "text"):
    chosen = m[tower].name
    for name in sorted(set(m[tower].keys()) - {"name"}):
      with m.unlocked():
        m[tower].name = name
      model = image_text.two_tower(m, vocab_size=50, text_len=n, key=section)
      params = jax.eval_shape(model.init, jax.random.key(0), jnp.zeros((2, s, s, 3)),
                              jnp.zeros((2, n), jnp.int32))["params"]
      assert {"img_tower", "txt_tower"} <= set(params), (tower, name)
    with m.unlocked():
      m[tower].name = chosen


def test_contrastive_loss_fn_is_the_loss_and_frozen_params_get_no_gradient():
  model = image_text.two_tower(tiny_model_section("sigmoid"), vocab_size=20, text_len=6)
  rng = np.random.default_rng(0)
  batch = {"images": rng.normal(size=(4, 8, 8, 3)).astype(np.float32),
           "text": rng.integers(1, 20, (4, 6)).astype(np.int32)}
  params = image_text.init_fn(model, batch["images"][:1], batch["text"][:1])(
      jax.random.key(0))[0]
  key = jax.random.key(1)  # the step's key (dropout, when a tower has any)
  loss, (metrics, state) = image_text.contrastive_loss_fn(model, "sigmoid")(
      params, {}, batch, key, None)
  zimg, ztxt, out = model.apply({"params": params}, batch["images"], batch["text"])
  assert loss == pytest.approx(siglip_loss(zimg, ztxt, out["logit_scale"], out["logit_bias"]))
  assert metrics["temperature"] == pytest.approx(0.1) and state == {}
  frozen = image_text.contrastive_loss_fn(model, "sigmoid", frozen=("img_tower/.*",))
  grads = jax.grad(lambda p: frozen(p, {}, batch, key, None)[0])(params)
  assert all(not np.any(g) for g in jax.tree.leaves(grads["img_tower"]))
  assert any(np.any(g) for g in jax.tree.leaves(grads["txt_tower"]))


def test_caption_batches_and_scenes_read_the_source():
  world = SceneWorld(seed=1, image_size=8)
  batches = image_text.caption_batches(world, lambda caps: np.array([len(c) for c in caps]), 4,
                                       seed=0)
  try:
    batch = next(iter(batches))
  finally:
    batches.close()
  assert batch["images"].shape == (4, 8, 8, 3) and batch["images"].dtype == np.float32
  assert batch["text"].shape == (4,)
  test = image_text.scenes(world, "test", 5, captions=True)
  first = world.example("test", 0, ("image", "caption", "key"))
  np.testing.assert_array_equal(test["images"][0], sources.normalize(first["image"]))
  assert (test["captions"][0], test["keys"][0]) == (first["caption"], first["key"])
  labels = world.first_object_labels("test", range(5))
  for k in ("shape", "colour", "size", "n_objects"):
    np.testing.assert_array_equal(test[k], labels[k])
  assert set(image_text.scenes(world, "train", 3)) == {"images", *labels}


def test_evaluator_scores_retrieval_zero_shot_and_probe():
  world = SceneWorld(seed=0, image_size=8)
  tokenizer = WordTokenizer(world.vocabulary())
  tokens = lambda caps: tokenizer.encode_batch(caps, 12)
  model = image_text.two_tower(tiny_model_section(), tokenizer.vocab_size, 12)
  test = image_text.scenes(world, "test", 24, captions=True)
  test["paraphrases"] = [c.replace("small", "little") for c in test["captions"]]
  probe = image_text.scenes(world, "train", 20)
  e = ml_collections.ConfigDict(dict(batch_size=8, zero_shot_tasks=("shape",),
                                     zero_shot_templates=("a {c}",), novel_templates=(),
                                     probe_tasks=("colour",)))
  params = image_text.init_fn(model, test["images"][:1], tokens(test["captions"][:1]))(
      jax.random.key(0))[0]
  state = type("State", (), {"eval_params": params})()
  metrics = image_text.evaluator(model, test, tokens, e, CLASSES, ks=(1, 5), probe=probe)(
      state, 0)
  assert {"i2t/R@1", "t2i/R@5", "paraphrase/i2t/R@1", "zero_shot/shape/top1",
          "linear_probe/colour/accuracy"} <= set(metrics)
  assert not any(k.startswith("zero_shot_novel") or "R@10" in k for k in metrics)
  assert "paraphrase/i2t/chance_R@1" not in metrics
  assert metrics["zero_shot/shape/chance_top1"] == pytest.approx(1 / 4)
  embed = image_text.embed_images(model, 8)
  zimg, pooled = embed(params, test["images"])
  assert zimg.shape == (24, 8) and pooled.shape[0] == 24
  np.testing.assert_allclose(np.linalg.norm(zimg, axis=-1), 1.0, rtol=1e-5)


def test_config_checks_name_the_key():
  e = ml_collections.ConfigDict(dict(zero_shot_tasks=("shape", "size"),
                                     zero_shot_templates=("a {c}", "a photo of a {c}"),
                                     novel_templates=("a photo",)))
  with pytest.raises(ConfigError, match="eval.zero_shot_tasks has 'size'; valid choices: "
                                        "shape, colour"):
    image_text.check_tasks(e, ("zero_shot_tasks",), CLASSES)
  with pytest.raises(ConfigError, match=r"eval.novel_templates has 'a photo' without a"):
    image_text.check_templates(e, "novel_templates")
  tokenizer = WordTokenizer(SceneWorld().vocabulary())
  image_text.check_templates(e, "zero_shot_templates")  # no tokenizer: any words
  with pytest.raises(ConfigError, match=r"non-caption words \['photo'\]; .* Hint."):
    image_text.check_templates(e, "zero_shot_templates", tokenizer, " Hint.")


def test_coco_captions_is_a_data_source(tmp_path):
  from mmjax.data.tfds.mock import mock_coco_captions
  data = ml_collections.ConfigDict(dict(seed=3, image_size=16, text_len=8, source=dict(
      name="coco_captions", coco_captions=dict(vocab_examples=4))))
  source = sources.build(data)
  assert isinstance(source, CocoCaptionsSource)
  assert (source.seed, source.image_size, source.vocab_examples) == (3, 16, 4)
  with mock_coco_captions(num_examples=6):
    source.check_prepared()
    tokenizer = image_text.word_tokenizer(source, str(tmp_path))
    stream = source.stream(source.train_split, shuffle=False)
    try:
      captions = [c.decode() for ex in stream.read(0, 4) for c in ex["captions"]]
    finally:
      stream.close()
  assert tokenizer.itos == WordTokenizer.build(captions).itos
  assert json.load(open(tmp_path / "vocab.json"))["itos"] == tokenizer.itos
  with pytest.raises(FileNotFoundError, match="tfds build coco_captions --data_dir DIR"):
    sources.build(ml_collections.ConfigDict(dict(source=dict(
        name="coco_captions", coco_captions=dict(data_dir=str(tmp_path)))))).check_prepared()
