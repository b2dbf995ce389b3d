"""Greedy / sampling / beam search: known optima of hand-built Markov models, and agreement with
the caption decoders' own teacher-forced scores."""

import functools
import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from mmjax.losses.captioning import shift_right
from mmjax.models import CAPTION_DECODERS
from mmjax.models.heads import decoding
from tests.test_heads import FAST_COMPILE, random_variables

PAD, BOS, EOS, A, B, C = range(6)


def _table(**rows):
  """Transition log-probabilities [6, 6]: row = current token, columns = next token."""
  p = np.zeros((6, 6))
  p[:, [EOS, A, B, C]] = 1 / 4  # rows not given: uniform over the generable tokens
  for cur, probs in rows.items():
    p[globals()[cur]] = 0
    for nxt, q in probs.items():
      p[globals()[cur], globals()[nxt]] = q
  assert np.allclose(p.sum(1), 1)
  with np.errstate(divide="ignore"):
    return np.where(p > 0, np.log(p), -1e9).astype(np.float32)


# Greedy takes A (0.55) then EOS: p = 0.275; the best caption is B C EOS: p = 0.3645.
GREEDY_TRAP = _table(BOS=dict(A=.55, B=.45), A=dict(EOS=.5, A=.25, B=.25), B=dict(C=.9, EOS=.1),
                     C=dict(EOS=.9, C=.1))
# A EOS (0.33) beats B C EOS (0.288) on log-probability, but not once length is rewarded.
SHORT_VS_LONG = _table(BOS=dict(A=.55, B=.45), A=dict(EOS=.6, A=.2, B=.2), B=dict(C=.8, EOS=.2),
                       C=dict(EOS=.8, C=.2))


def _random_tables(n, seed):
  """n random bigram models over the same 6 tokens; PAD and BOS are never generated."""
  logits = 3 * np.random.default_rng(seed).standard_normal((n, 6, 6))
  logits[:, :, [PAD, BOS]] = -np.inf
  logits -= np.log(np.exp(logits).sum(-1, keepdims=True))
  return np.maximum(logits, -1e9).astype(np.float32)


# Rows 0 and 1 have known optima; the rest are random models.
TABLES = np.concatenate([np.stack([GREEDY_TRAP, SHORT_VS_LONG]), _random_tables(14, 0)])


def markov_step(tokens, state):
  """Step function of per-example bigram models: state["table"] [batch, 6, 6] holds each
  example's log P(next | current), so beam search must tile and reorder it correctly."""
  return jnp.take_along_axis(state["table"], tokens[:, None, None], axis=1)[:, 0], state


_STATIC = ("max_len", "eos_id", "pad_id", "beam_size", "alpha", "temperature", "top_k")
_JIT = {f: jax.jit(getattr(decoding, f), static_argnums=0, compiler_options=FAST_COMPILE,
                   static_argnames=[a for a in _STATIC
                                    if a in getattr(decoding, f).__code__.co_varnames])
        for f in ("greedy", "sample", "beam_search")}


def _run(fn, tables=TABLES, **kw):
  tables = jnp.asarray(tables)
  start = jnp.full(tables.shape[:1], BOS, jnp.int32)
  return jax.tree.map(np.asarray, _JIT[fn](markov_step, dict(table=tables), start, **kw))


def sequence_score(table, tokens, alpha=0.0, eos=EOS):
  """Length-normalised log-probability of generated `tokens` (up to `eos`, or all of them)."""
  seq = [BOS] + list(tokens)
  n = seq.index(eos) if eos in seq else len(seq) - 1
  seq = seq[:n + 1]
  logp = sum(table[a, b] for a, b in zip(seq[:-1], seq[1:]))
  return logp / ((5 + n) / 6) ** alpha


def brute_force_best(table, max_len, alpha):
  """(tokens padded to max_len, score) of the best EOS-terminated sequence, by enumeration."""
  best = (None, -np.inf)
  for n in range(1, max_len + 1):
    for words in itertools.product([A, B, C], repeat=n - 1):
      seq = list(words) + [EOS]
      score = sequence_score(table, seq, alpha)
      if score > best[1]:
        best = (seq + [PAD] * (max_len - n), score)
  return np.array(best[0]), best[1]


@pytest.mark.parametrize("alpha", [0.0, 2.0])
def test_beam_search_finds_the_enumerated_optimum(alpha):
  tokens, scores = _run("beam_search", max_len=4, beam_size=2, eos_id=EOS, alpha=alpha)
  for row in range(2):
    want, want_score = brute_force_best(TABLES[row], 4, alpha)
    np.testing.assert_array_equal(tokens[row], want)
    np.testing.assert_allclose(scores[row], want_score, rtol=1e-5)
  # Every returned score is its sequence's own length-normalised log-probability.
  for table, seq, score in zip(TABLES, tokens, scores):
    np.testing.assert_allclose(score, sequence_score(table, seq, alpha), rtol=1e-5)


def test_the_markov_cases_are_not_trivial():
  # Greedy misses the optimum of GREEDY_TRAP, and alpha changes SHORT_VS_LONG's optimum, so the
  # test above exercises both the search and the length penalty.
  tokens, _ = _run("greedy", max_len=4, eos_id=EOS)
  assert tokens[0].tolist() != brute_force_best(GREEDY_TRAP, 4, 0.0)[0].tolist()
  assert (brute_force_best(SHORT_VS_LONG, 4, 0.0)[0].tolist() !=
          brute_force_best(SHORT_VS_LONG, 4, 2.0)[0].tolist())


def test_beam_of_one_is_greedy_and_pads_after_eos():
  g_tok, g_score = _run("greedy", max_len=4, eos_id=EOS)
  b_tok, b_score = _run("beam_search", max_len=4, beam_size=1, eos_id=EOS)
  np.testing.assert_array_equal(g_tok, b_tok)
  np.testing.assert_allclose(g_score, b_score, rtol=1e-6)
  np.testing.assert_array_equal(g_tok[:2], [[A, EOS, PAD, PAD]] * 2)
  np.testing.assert_allclose(g_score[:2], [np.log(.55 * .5), np.log(.55 * .6)], rtol=1e-5)


def test_without_eos_beams_run_to_max_len():
  tokens, scores = _run("beam_search", max_len=3, beam_size=3, eos_id=None, alpha=1.0)
  for table, seq, score in zip(TABLES, tokens, scores):
    assert PAD not in seq
    np.testing.assert_allclose(score, sequence_score(table, seq, 1.0, eos=None), rtol=1e-5)


@pytest.fixture(scope="module")
def samples():
  """4000 samples of SHORT_VS_LONG at temperature 1 and 0.5."""
  tables = np.repeat(SHORT_VS_LONG[None], 4000, axis=0)
  return {t: _run("sample", tables, max_len=4, eos_id=EOS, rng=jax.random.key(i), temperature=t)
          for i, t in enumerate([1.0, 0.5])}


def test_sampling_follows_the_model_and_temperature(samples):
  tokens = samples[1.0][0]
  assert set(tokens[:, 0]) == {A, B}
  assert abs((tokens[:, 0] == A).mean() - .55) < .025
  after_b = tokens[tokens[:, 0] == B, 1]
  assert abs((after_b == C).mean() - .8) < .03
  # Temperature 0.5 squares the probabilities: P(A) = .55^2 / (.55^2 + .45^2) = .599.
  first = samples[0.5][0][:, 0]
  assert abs((first == A).mean() - .55 ** 2 / (.55 ** 2 + .45 ** 2)) < .025


def test_sampling_scores_are_model_log_probabilities(samples):
  for t in samples:
    for seq, score in zip(*(x[:50] for x in samples[t])):
      np.testing.assert_allclose(score, sequence_score(SHORT_VS_LONG, seq), rtol=1e-5)


@pytest.mark.parametrize("how", [dict(top_k=1), dict(temperature=1e-6)])
def test_top_k_one_and_cold_sampling_equal_greedy(how):
  greedy = _run("greedy", max_len=4, eos_id=EOS)
  sampled = _run("sample", max_len=4, eos_id=EOS, rng=jax.random.key(8), **how)
  np.testing.assert_array_equal(sampled[0], greedy[0])
  np.testing.assert_allclose(sampled[1], greedy[1], rtol=1e-5)
  assert len(np.unique(greedy[0], axis=0)) > 3  # the random models decode differently


def test_bad_arguments_name_the_problem():
  step, state, start = markov_step, dict(table=jnp.asarray(TABLES[:1])), jnp.ones(1, int)
  with pytest.raises(ValueError, match="beam_size=0"):
    decoding.beam_search(step, state, start, 3, beam_size=0)
  with pytest.raises(ValueError, match="temperature=-1"):
    decoding.sample(step, state, start, 3, jax.random.key(0), temperature=-1)
  with pytest.raises(ValueError, match="top_k=0"):
    decoding.sample(step, state, start, 3, jax.random.key(0), top_k=0)


# --- the caption decoders -----------------------------------------------------------------------

VOCAB, LEN = 13, 6
DECODERS = {
    "transformer": dict(vocab_size=VOCAB, max_len=LEN, width=16, depth=1, num_heads=2,
                        mlp_dim=32),
    "lstm": dict(vocab_size=VOCAB, embed_dim=8, hidden=16),
}


@pytest.fixture(scope="module", params=sorted(DECODERS))
def decoded(request):
  """Every decoding of one random decoder, in one compiled function."""
  model = CAPTION_DECODERS.build(request.param, **DECODERS[request.param])
  enc = jax.random.normal(jax.random.key(1), (3, 5, 12))
  mask = jnp.arange(5)[None] < jnp.array([[5], [3], [1]])
  start = jnp.full((3,), BOS, jnp.int32)
  variables = random_variables(model, jnp.zeros((3, LEN), jnp.int32), enc, mask)

  @functools.partial(jax.jit, compiler_options=FAST_COMPILE)
  def run(variables):
    step, state = decoding.decoder_fns(model, variables, enc, mask)
    out = dict(greedy=decoding.greedy(step, state, start, LEN, eos_id=EOS),
               beam1=decoding.beam_search(step, state, start, LEN, beam_size=1, eos_id=EOS),
               beam3=decoding.beam_search(step, state, start, LEN, beam_size=3, eos_id=EOS,
                                          alpha=0.6))
    # Teacher-forced log-probabilities of the beam-search result, to re-score it independently.
    logits = model.apply(variables, shift_right(out["beam3"][0], BOS), enc, mask)
    out["beam3_logp"] = jax.nn.log_softmax(logits)
    return out
  return jax.tree.map(np.asarray, run(variables))


def test_beam_of_one_equals_greedy(decoded):
  np.testing.assert_array_equal(decoded["beam1"][0], decoded["greedy"][0])
  np.testing.assert_allclose(decoded["beam1"][1], decoded["greedy"][1], rtol=1e-5)


def test_beam_search_score_matches_teacher_forcing(decoded):
  # Beams are reordered every step; a wrongly gathered cache would score other prefixes.
  tokens, scores = decoded["beam3"]
  for seq, score, logp in zip(tokens, scores, decoded["beam3_logp"]):
    ends = np.flatnonzero(seq == EOS)
    n = ends[0] + 1 if len(ends) else LEN
    total = logp[np.arange(n), seq[:n]].sum()
    np.testing.assert_allclose(score, total / ((5 + n) / 6) ** 0.6, rtol=1e-4)
    assert (seq[n:] == PAD).all()
