"""Model-agnostic autoregressive decoding: greedy, sampling and beam search, all jittable.

A model is seen only through a step function and its state:

  step_fn(tokens_t [batch], state) -> (logits [batch, vocab], state)

`state` is any pytree (a KV cache, LSTM h/c, ...). Leaves with a leading batch axis are per
example; scalar leaves (e.g. a shared cache position) are shared by all examples, and beam search
leaves them as they are. Decoding starts from `start_tokens` [batch] (usually <bos>), runs at most
`max_len` steps and returns the generated tokens [batch, max_len] without the start token:
up to and including `eos_id`, then `pad_id`.
"""

from typing import Any, Callable, Optional

import jax
import jax.numpy as jnp

StepFn = Callable[[jax.Array, Any], tuple]
NEG_INF = -1.0e9  # "impossible" score; finite, so sums and ratios of such scores never give NaN


def decoder_fns(model, variables, encoded, enc_mask=None):
  """(step_fn, initial state) for a caption decoder exposing `init_state` and `step`
  (`LSTMDecoder`, `TransformerDecoder`). encoded: [batch, n, dim] or pooled [batch, dim]."""
  state = model.apply(variables, encoded, enc_mask, method="init_state")
  step_fn = lambda tokens, s: model.apply(variables, tokens, s, method="step")
  return step_fn, state


def _check(max_len, eos_id):
  if max_len < 1:
    raise ValueError(f"max_len={max_len}; it must be >= 1.")
  if eos_id is not None and eos_id < 0:
    raise ValueError(f"eos_id={eos_id}; valid: a token id >= 0, or None (no end token).")


def _decode(step_fn, state, start_tokens, max_len, eos_id, pad_id, choose):
  """Shared loop of greedy and sampling: choose(logits, step index) -> tokens [batch]."""
  _check(max_len, eos_id)
  batch = start_tokens.shape[0]

  def cond(carry):
    i, _, _, _, _, done = carry
    return (i < max_len) & ~jnp.all(done)

  def body(carry):
    i, tokens_t, out, score, state, done = carry
    logits, state = step_fn(tokens_t, state)
    logits = logits.astype(jnp.float32)
    new = choose(logits, i)
    logp = jnp.take_along_axis(jax.nn.log_softmax(logits), new[:, None], axis=1)[:, 0]
    new = jnp.where(done, pad_id, new)
    score = score + jnp.where(done, 0.0, logp)
    out = out.at[:, i].set(new)
    if eos_id is not None:
      done = done | (new == eos_id)
    return i + 1, new, out, score, state, done

  out = jnp.full((batch, max_len), pad_id, jnp.int32)
  carry = (jnp.int32(0), start_tokens.astype(jnp.int32), out, jnp.zeros((batch,), jnp.float32),
           state, jnp.zeros((batch,), bool))
  _, _, out, score, _, _ = jax.lax.while_loop(cond, body, carry)
  return out, score


def greedy(step_fn: StepFn, state, start_tokens, max_len: int, eos_id: Optional[int] = None,
           pad_id: int = 0):
  """Argmax decoding. Returns (tokens [batch, max_len] int32, log-probability of each sequence
  [batch] float32). Stops early once every sequence has emitted `eos_id`."""
  choose = lambda logits, i: jnp.argmax(logits, axis=-1).astype(jnp.int32)
  return _decode(step_fn, state, start_tokens, max_len, eos_id, pad_id, choose)


def sample(step_fn: StepFn, state, start_tokens, max_len: int, rng, temperature: float = 1.0,
           top_k: Optional[int] = None, eos_id: Optional[int] = None, pad_id: int = 0):
  """Ancestral sampling from softmax(logits / temperature), optionally restricted to the `top_k`
  most likely tokens (Fan et al. 2018). temperature=0 is argmax. Returns (tokens [batch, max_len],
  log-probability of each sequence under the untempered model [batch])."""
  if temperature < 0:
    raise ValueError(f"temperature={temperature}; it must be >= 0 (0 = greedy).")
  if top_k is not None and top_k < 1:
    raise ValueError(f"top_k={top_k}; valid: None (no cut) or an integer >= 1.")

  keys = jax.random.split(rng, max_len)  # one key per step, split once outside the loop

  def choose(logits, i):
    if top_k is not None and top_k < logits.shape[-1]:
      kth = jax.lax.top_k(logits, top_k)[0][:, -1:]
      logits = jnp.where(logits >= kth, logits, NEG_INF)
    if temperature == 0:
      return jnp.argmax(logits, axis=-1).astype(jnp.int32)
    return jax.random.categorical(keys[i], logits / temperature, axis=-1).astype(jnp.int32)

  return _decode(step_fn, state, start_tokens, max_len, eos_id, pad_id, choose)


def length_penalty(length, alpha: float):
  """GNMT length normalisation ((5 + length) / 6) ** alpha (Wu et al. 2016); 1 when alpha = 0."""
  return ((5.0 + jnp.asarray(length, jnp.float32)) / 6.0) ** alpha


def _tile_beams(tree, beam_size):
  """Leaves [batch, ...] -> [batch * beam, ...] (each example repeated); scalars unchanged."""
  return jax.tree.map(lambda x: x if x.ndim == 0 else jnp.repeat(x, beam_size, axis=0), tree)


def _gather_beams(tree, beam_idx):
  """Leaves [batch * beam, ...] -> the rows beam_idx [batch, beam] of each example, same shape."""
  batch, beam = beam_idx.shape
  flat = (beam_idx + beam * jnp.arange(batch)[:, None]).reshape(-1)
  return jax.tree.map(lambda x: x if x.ndim == 0 else jnp.take(x, flat, axis=0), tree)


def beam_search(step_fn: StepFn, state, start_tokens, max_len: int, beam_size: int = 4,
                eos_id: Optional[int] = None, alpha: float = 0.0, pad_id: int = 0):
  """Beam search with GNMT length penalty (score = log p(y) / ((5 + |y|) / 6) ** alpha, |y|
  counting the EOS). Returns (best tokens [batch, max_len], their scores [batch]).

  Each step extends every live beam by every token and keeps the 2 * beam_size best candidates:
  those ending in `eos_id` (among the top beam_size) compete for the `beam_size` finished slots
  with their final score and never grow again; the others compete for the `beam_size` live
  slots, whose state rows are gathered from their parent beams. The search stops when no live
  beam can still beat the worst finished one (log-probabilities only fall, so a live beam's best
  attainable score is its current log-probability over the penalty at max_len). Examples with
  no finished beam return their best live beam, scored at length max_len.
  """
  _check(max_len, eos_id)
  if beam_size < 1:
    raise ValueError(f"beam_size={beam_size}; it must be >= 1.")
  if alpha < 0:
    raise ValueError(f"alpha={alpha}; the length penalty exponent must be >= 0.")
  batch, k = start_tokens.shape[0], beam_size

  def cond(c):
    i, live_logp, fin_score, fin_ok = c["i"], c["live_logp"], c["fin_score"], c["fin_ok"]
    best_live = live_logp.max(axis=1) / length_penalty(max_len, alpha)
    worst_fin = jnp.where(fin_ok, fin_score, jnp.inf).min(axis=1)
    # All finished slots full and none of them beatable: this example is done.
    done = fin_ok.all(axis=1) & (best_live < worst_fin)
    return (i < max_len) & ~jnp.all(done)

  def body(c):
    i = c["i"]
    logits, state = step_fn(c["last"], c["state"])
    vocab = logits.shape[-1]
    logp = jax.nn.log_softmax(logits.astype(jnp.float32)).reshape(batch, k, vocab)
    cand = (c["live_logp"][:, :, None] + logp).reshape(batch, k * vocab)
    n_cand = min(2 * k, k * vocab)
    cand_logp, cand_idx = jax.lax.top_k(cand, n_cand)  # [batch, n_cand]
    parent, token = cand_idx // vocab, (cand_idx % vocab).astype(jnp.int32)
    seqs = jnp.take_along_axis(c["live_seqs"], parent[:, :, None], axis=1)
    seqs = seqs.at[:, :, i].set(token)
    is_eos = (token == eos_id) if eos_id is not None else jnp.zeros_like(token, bool)
    # A parent that was itself impossible (the k-1 copies at step 0) yields impossible children.
    possible = cand_logp > NEG_INF / 2
    # An EOS candidate finishes only if it ranks in the top k (as fairseq does): a beam never
    # ends on a token the search would not have chosen, so beam_size=1 is exactly greedy.
    finishes = is_eos & possible & (jnp.arange(n_cand) < k)[None, :]

    # Live: the best k candidates that did not end.
    live_key = jnp.where(is_eos | ~possible, NEG_INF, cand_logp)
    live_logp, pick = jax.lax.top_k(live_key, k)
    live_seqs = jnp.take_along_axis(seqs, pick[:, :, None], axis=1)
    state = _gather_beams(state, jnp.take_along_axis(parent, pick, axis=1))

    # Finished: merge the candidates that just ended with the ones kept so far.
    new_score = cand_logp / length_penalty(i + 1, alpha)
    all_score = jnp.concatenate([c["fin_score"], new_score], axis=1)
    all_ok = jnp.concatenate([c["fin_ok"], finishes], axis=1)
    all_seqs = jnp.concatenate([c["fin_seqs"], seqs], axis=1)
    _, keep = jax.lax.top_k(jnp.where(all_ok, all_score, NEG_INF), k)
    return dict(
        i=i + 1, last=live_seqs[:, :, i].reshape(-1), state=state,
        live_seqs=live_seqs, live_logp=live_logp,
        fin_seqs=jnp.take_along_axis(all_seqs, keep[:, :, None], axis=1),
        fin_score=jnp.take_along_axis(all_score, keep, axis=1),
        fin_ok=jnp.take_along_axis(all_ok, keep, axis=1))

  seqs0 = jnp.full((batch, k, max_len), pad_id, jnp.int32)
  # Every beam starts as the same sequence; only the first may expand, or the k copies would
  # fill the beam with duplicates.
  live_logp0 = jnp.tile(jnp.array([0.0] + [NEG_INF] * (k - 1), jnp.float32), (batch, 1))
  c = dict(i=jnp.int32(0), last=jnp.repeat(start_tokens.astype(jnp.int32), k),
           state=_tile_beams(state, k), live_seqs=seqs0, live_logp=live_logp0,
           fin_seqs=seqs0, fin_score=jnp.full((batch, k), NEG_INF, jnp.float32),
           fin_ok=jnp.zeros((batch, k), bool))
  c = jax.lax.while_loop(cond, body, c)

  any_fin = c["fin_ok"].any(axis=1)
  live_score = c["live_logp"] / length_penalty(max_len, alpha)
  seqs = jnp.where(any_fin[:, None, None], c["fin_seqs"], c["live_seqs"])
  scores = jnp.where(any_fin[:, None], jnp.where(c["fin_ok"], c["fin_score"], NEG_INF),
                     live_score)
  best = jnp.argmax(scores, axis=1)
  return (jnp.take_along_axis(seqs, best[:, None, None], axis=1)[:, 0],
          jnp.take_along_axis(scores, best[:, None], axis=1)[:, 0])
