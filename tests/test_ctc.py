"""CTC: the loss against optax and against brute force over alignments; greedy and prefix beam
decoding against exhaustive search; the head."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

from mmjax.losses.ctc import ctc_loss
from mmjax.models import HEADS
from mmjax.models.heads.ctc import CTCHead
from mmjax.models.heads.ctc_decoding import greedy_decode, prefix_beam_search
from mmjax.registry import ConfigError


def _log_softmax(x):
  x = np.asarray(x, np.float64)
  x = x - x.max(-1, keepdims=True)
  return x - np.log(np.exp(x).sum(-1, keepdims=True))


def _collapse(path, blank=0):
  out, prev = [], None
  for c in path:
    if c != prev and c != blank:
      out.append(int(c))
    prev = c
  return tuple(out)


def _exact_labelling_log_probs(log_probs, blank=0):
  """log p(labelling) for every labelling, by enumerating all classes ** frames alignments."""
  frames, classes = log_probs.shape
  out = {}
  for path in itertools.product(range(classes), repeat=frames):
    lp = sum(log_probs[t, c] for t, c in enumerate(path))
    key = _collapse(path, blank)
    out[key] = np.logaddexp(out.get(key, -np.inf), lp)
  return out


def _batch():
  """[5 sequences, 12 frames, 6 classes]: frame padding (different lengths), label padding,
  repeats, a repeat that needs a blank in between, an empty labelling."""
  logits = np.random.default_rng(0).normal(size=(5, 12, 6)).astype(np.float32) * 2.0
  labels = np.array([[1, 2, 3, 0], [3, 3, 3, 3], [2, 2, 5, 0], [4, 0, 0, 0], [0, 0, 0, 0]])
  label_pad = np.array([[0, 0, 0, 1], [0, 0, 0, 0], [0, 0, 0, 1], [0, 1, 1, 1], [1, 1, 1, 1]],
                       np.float32)
  logit_pad = (np.arange(12)[None] >= np.array([12, 9, 7, 3, 5])[:, None]).astype(np.float32)
  return logits, logit_pad, labels, label_pad


def _per_sequence_loss_and_grad(loss_fn):
  """Compiled (losses [batch], d sum(losses) / d logits), shared by the tests below."""
  def f(logits, logit_pad, labels, label_pad):
    losses, vjp = jax.vjp(lambda l: loss_fn(l, logit_pad, labels, label_pad), logits)
    return losses, vjp(jnp.ones_like(losses))[0]
  return jax.jit(f)


_ours = _per_sequence_loss_and_grad(ctc_loss)
_optax = _per_sequence_loss_and_grad(optax.ctc_loss)


def test_ctc_loss_and_gradient_match_optax():
  batch = _batch()
  (loss, grad), (ref_loss, ref_grad) = jax.device_get((_ours(*batch), _optax(*batch)))
  np.testing.assert_allclose(loss, ref_loss, rtol=1e-5)
  np.testing.assert_allclose(grad, ref_grad, atol=1e-5)
  # Padded frames get no gradient; real frames do.
  assert float(np.abs(grad[2, 7:]).max()) == 0.0 and float(np.abs(grad[2, :7]).min()) > 0.0


def test_ctc_loss_with_another_blank_id_is_the_same_loss_with_classes_renamed():
  logits, logit_pad, labels, label_pad = _batch()
  labels = np.where(labels == 5, 1, labels)  # no label may be the blank (5 below)
  swap = np.array([5, 1, 2, 3, 4, 0])  # class 0 <-> 5
  loss_blank5 = jax.jit(ctc_loss, static_argnames="blank_id")(
      logits[..., swap], logit_pad, swap[labels], label_pad, blank_id=5)
  np.testing.assert_allclose(loss_blank5, _ours(logits, logit_pad, labels, label_pad)[0],
                             rtol=1e-6)


@pytest.mark.parametrize("labels", [(1,), (1, 1), (1, 2, 1), (2, 2, 1), ()])
def test_ctc_loss_is_minus_log_sum_over_alignments(labels):
  logits = np.random.default_rng(len(labels)).normal(size=(5, 3)).astype(np.float32) * 1.5
  exact = _exact_labelling_log_probs(_log_softmax(logits))
  lab = np.array([list(labels) + [0] * (3 - len(labels))])
  lab_pad = (np.arange(3) >= len(labels)).astype(np.float32)[None]
  loss = jax.jit(ctc_loss)(logits[None], np.zeros((1, 5), np.float32), lab, lab_pad)
  np.testing.assert_allclose(float(loss[0]), -exact[labels], rtol=1e-5)


def test_ctc_loss_is_stable_for_peaked_logits_and_infinite_when_impossible():
  # Logits of +-1e4 underflow a probability-space recursion; log space must stay exact.
  logits, logit_pad, labels, label_pad = _batch()
  logits = np.full_like(logits, -1e4)
  logits[0, np.arange(4), [1, 0, 1, 2]] = 1e4  # the alignment "1 - 1 2" of labels "1 1 2"
  logits[1, np.arange(12), 1] = 1e4
  labels[:2], label_pad[:2], logit_pad[:2] = [1, 1, 2, 0], [0, 0, 0, 1], 1.0
  logit_pad[0, :4] = logit_pad[1, :3] = 0.0
  # Sequence 1 has 3 frames: "1 1 2" needs 4 (1, blank, 1, 2), so no alignment exists.
  loss, grad = jax.device_get(_ours(logits, logit_pad, labels, label_pad))
  assert float(loss[0]) == pytest.approx(0.0, abs=1e-4) and bool(np.isfinite(grad).all())
  assert float(loss[1]) == np.inf and float(np.abs(grad[1]).max()) == 0.0


def test_ctc_loss_rejects_bad_blank_id():
  logits, logit_pad, labels, label_pad = _batch()
  with pytest.raises(ValueError, match=r"blank_id=6; valid: 0\.\.5"):
    ctc_loss(logits, logit_pad, labels, label_pad, blank_id=6)


def test_ctc_head_shapes_dtypes_and_training_signal():
  _, logit_pad, labels, label_pad = _batch()
  head = HEADS.build("ctc", vocab_size=5, blank_id=0)
  x = np.random.default_rng(2).normal(size=(5, 12, 16)).astype(np.float32)
  # An "rbg" key: XLA:CPU compiles a default (threefry) random draw ~8x slower.
  params = jax.jit(head.init)(jax.random.key(0, impl="rbg"), x)
  logits = jax.jit(head.apply)(params, x)
  assert logits.shape == (5, 12, 6) and logits.dtype == jnp.float32
  bf16 = jax.jit(CTCHead(vocab_size=5, dtype=jnp.bfloat16).apply)(params, x)
  assert bf16.dtype == jnp.float32
  np.testing.assert_allclose(bf16, logits, atol=0.1)
  _, dlogits = _ours(logits, logit_pad, labels, label_pad)
  head_vjp = jax.jit(lambda p, d: jax.vjp(lambda q: head.apply(q, x), p)[1](d)[0])
  grads = jax.device_get(head_vjp(params, dlogits))
  assert all(bool(np.isfinite(g).all()) and float(np.abs(g).max()) > 0
             for g in jax.tree.leaves(grads))


def test_ctc_head_rejects_bad_config():
  with pytest.raises(ValueError, match=r"blank_id=7; valid: 0\.\.5"):
    CTCHead(vocab_size=5, blank_id=7).init(jax.random.key(0), jnp.ones((1, 3, 4)))
  with pytest.raises(ConfigError, match="Valid options: blank_id, dtype, param_dtype, vocab_size"):
    HEADS.build("ctc", vocab=5)


def test_greedy_decode_collapses_and_skips_padding():
  onehot = lambda path: np.eye(4)[np.array(path)] * 5.0
  logits = np.stack([onehot([1, 1, 0, 1, 2, 2, 3, 3]), onehot([0, 2, 0, 0, 2, 3, 3, 1])])
  pad = np.zeros((2, 8))
  pad[1, 6:] = 1.0  # the second drops its last two frames
  assert greedy_decode(logits, pad) == [[1, 1, 2, 3], [2, 2, 3]]
  assert greedy_decode(logits, pad, blank_id=3) == [[1, 0, 1, 2], [0, 2, 0, 2]]


def test_greedy_is_exact_when_the_best_path_has_most_of_the_mass():
  rng = np.random.default_rng(0)
  checked = 0
  for _ in range(30):
    frames, classes = rng.integers(3, 6), rng.integers(2, 4)
    lp = _log_softmax(rng.normal(size=(frames, classes)) * 4.0)
    if lp.max(-1).sum() <= np.log(0.5):
      continue  # Only when p(best path) > 1/2 must its labelling be the most probable one.
    exact = _exact_labelling_log_probs(lp)
    assert tuple(greedy_decode(lp[None])[0]) == max(exact, key=exact.get)
    checked += 1
  assert checked >= 5


def test_unpruned_prefix_beam_search_is_exact_and_at_least_greedy():
  rng = np.random.default_rng(1)
  for _ in range(12):
    frames, classes = rng.integers(2, 6), rng.integers(2, 4)
    lp = _log_softmax(rng.normal(size=(frames, classes)) * rng.uniform(0.5, 3.0))
    exact = _exact_labelling_log_probs(lp)
    seqs, scores = prefix_beam_search(lp, beam_size=10 ** 6)  # never prunes
    assert set(seqs) == set(exact) and seqs[0] == max(exact, key=exact.get)
    np.testing.assert_allclose(scores, [exact[s] for s in seqs], rtol=1e-9)
    assert np.all(np.diff(scores) <= 0)
    greedy = tuple(greedy_decode(lp[None])[0])
    assert exact[seqs[0]] >= exact[greedy]
    # A pruned beam sums fewer alignments: its scores are lower bounds of the exact ones.
    for beam in (1, 2):
      seqs, scores = prefix_beam_search(lp, beam)
      assert len(seqs) <= beam
      assert all(sc <= exact[s] + 1e-9 for s, sc in zip(seqs, scores))


def test_prefix_beam_search_beats_greedy_where_alignments_add_up():
  # Blank is each frame's argmax (greedy: ""), but "a" has 0.64 of the mass over 3 alignments.
  lp = np.log([[0.6, 0.4], [0.6, 0.4]])
  assert greedy_decode(lp[None]) == [[]]
  seqs, scores = prefix_beam_search(lp, beam_size=2)
  assert seqs[0] == (1,) and scores[0] == pytest.approx(np.log(0.64))
  assert seqs[1] == () and scores[1] == pytest.approx(np.log(0.36))
  with pytest.raises(ValueError, match="beam_size=0"):
    prefix_beam_search(lp, beam_size=0)
