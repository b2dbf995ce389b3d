"""Zero-shot classification: prompt-ensembled class embeddings and top-k accuracy, checked on
embeddings built so the answer is known."""

import numpy as np
import pytest

from mmjax.evaluate.zero_shot import class_embeddings, zero_shot_accuracy

WORDS = {"circle": [1.0, 0.0, 0.0], "square": [0.0, 1.0, 0.0], "a": [0.0, 0.0, 1.0],
         "picture": [0.0, 0.0, 2.0], "of": [0.0, 0.0, 0.0]}


def bag_encoder(texts):
  """A hand-checkable text tower: the sum of fixed word vectors."""
  return np.stack([np.sum([WORDS[w] for w in t.split()], axis=0) for t in texts])


def test_class_embeddings_is_normalised_mean_of_normalised_prompts():
  emb = class_embeddings(bag_encoder, ["circle", "square"], ["a {c}", "a picture of a {c}"])
  # circle: "a circle" -> (1,0,1)/sqrt2, "a picture of a circle" -> (1,0,4)/sqrt17.
  p1, p2 = np.array([1, 0, 1]) / np.sqrt(2), np.array([1, 0, 4]) / np.sqrt(17)
  want = (p1 + p2) / np.linalg.norm(p1 + p2)
  np.testing.assert_allclose(emb[0], want, rtol=1e-5)
  np.testing.assert_allclose(emb[1], want[[1, 0, 2]], rtol=1e-5)
  np.testing.assert_allclose(np.linalg.norm(emb, axis=1), 1.0, rtol=1e-5)


def test_encoder_sees_every_class_template_prompt_once():
  seen = []
  class_embeddings(lambda t: seen.extend(t) or np.ones((len(t), 2)), ["x", "y"],
                   ["a {c}", "there is a {c}"])
  assert seen == ["a x", "there is a x", "a y", "there is a y"]


def test_accuracy_top1_and_topk_on_known_embeddings():
  cls = np.eye(3, dtype=np.float32)
  # Image 0 is class 0; image 1 leans to class 2 (label 1 second); image 2 leans to class 0
  # with label 2 last.
  img = np.array([[1.0, 0.1, 0.0], [0.0, 0.5, 0.9], [0.9, 0.5, 0.1]])
  out = zero_shot_accuracy(img, cls, np.array([0, 1, 2]), ks=(1, 2, 3))
  assert out["top1"] == pytest.approx(1 / 3)
  assert out["top2"] == pytest.approx(2 / 3)
  assert out["top3"] == 1.0
  assert out["chance_top1"] == pytest.approx(1 / 3) and out["chance_top2"] == pytest.approx(2 / 3)


def test_end_to_end_recovers_classes_and_random_images_score_near_chance():
  names = ["circle", "square"]
  cls = class_embeddings(bag_encoder, names, ["a {c}", "a picture of a {c}"])
  rng = np.random.default_rng(0)
  labels = rng.integers(0, 2, 400)
  img = np.eye(3)[labels] + 0.1 * rng.normal(size=(400, 3))
  assert zero_shot_accuracy(img, cls, labels)["top1"] == 1.0
  noise = rng.normal(size=(4000, 3))
  labels = rng.integers(0, 2, 4000)
  assert abs(zero_shot_accuracy(noise, cls, labels)["top1"] - 0.5) < 0.05


def test_bad_inputs_name_the_problem():
  with pytest.raises(ValueError, match="no '\\{c\\}' slot"):
    class_embeddings(bag_encoder, ["circle"], ["a picture"])
  with pytest.raises(ValueError, match="class ids in \\[0, 3\\)"):
    zero_shot_accuracy(np.eye(3), np.eye(3), np.array([0, 1, 3]))
  with pytest.raises(ValueError, match="valid: 1 to the number of classes"):
    zero_shot_accuracy(np.eye(3), np.eye(3), np.array([0, 1, 2]), ks=(4,))
