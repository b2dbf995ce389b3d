"""Connectionist Temporal Classification loss (Graves et al. 2006, "Connectionist Temporal
Classification: Labelling Unsegmented Sequence Data with Recurrent Neural Networks").

The forward (alpha) recursion over the blank-interleaved label sequence
l' = (blank, l1, blank, l2, ..., lN, blank), in log space under `lax.scan`, in float32.
"""

import jax
import jax.numpy as jnp

# log(0) as a finite number: exp() of it is exactly 0 and, unlike -inf, it never produces
# inf - inf = nan in the recursion or its gradient. Adding any log-probability leaves it unchanged.
_LOG_ZERO = -1e30


def _logsumexp3(a, b, c):
  m = jnp.maximum(jnp.maximum(a, b), c)
  return m + jnp.log(jnp.exp(a - m) + jnp.exp(b - m) + jnp.exp(c - m))


def ctc_loss(logits, logit_paddings, labels, label_paddings, blank_id: int = 0):
  """Per-sequence CTC negative log-likelihood -log p(labels | logits).

  logits: [batch, frames, classes] (classes include the blank); logit_paddings: [batch, frames],
  1.0 = padded frame (skipped by the recursion, wherever it lies); labels: [batch, max_labels]
  int; label_paddings: [batch, max_labels], 1.0 = padding, right-padded (as optax.ctc_loss).
  Returns [batch] float32. A labelling that no alignment can produce (more labels plus
  blanks-between-repeats than frames) has loss +inf and zero gradient.
  """
  if logits.ndim != 3 or labels.ndim != 2:
    raise ValueError(f"logits must be [batch, frames, classes] and labels [batch, max_labels]; "
                     f"got shapes {logits.shape} and {labels.shape}.")
  classes = logits.shape[-1]
  if not 0 <= blank_id < classes:
    raise ValueError(f"blank_id={blank_id}; valid: 0..{classes - 1} (the logits' classes).")
  b, n = labels.shape
  log_probs = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  label_len = jnp.sum(1 - label_paddings, axis=1).astype(jnp.int32)

  # Extended labels l' [batch, 2n + 1]: blanks at even positions.
  ext = jnp.full((b, 2 * n + 1), blank_id, labels.dtype).at[:, 1::2].set(labels)
  # A state may skip the blank before it (s-2 -> s) unless it is a blank or repeats l'_{s-2}.
  prev2 = jnp.pad(ext, ((0, 0), (2, 0)), constant_values=blank_id)[:, :-2]
  can_skip = (ext != blank_id) & (ext != prev2)
  # Emissions log y_t(l'_s): [frames, batch, states].
  emit = jnp.take_along_axis(log_probs, ext[:, None, :], axis=2).transpose(1, 0, 2)

  # A virtual "before the first frame" alpha with all mass on state 0: the recursion then gives
  # alpha_0 = (y(blank), y(l1), 0, ...), the usual initialisation.
  alpha0 = jnp.full((b, 2 * n + 1), _LOG_ZERO, jnp.float32).at[:, 0].set(0.0)
  shift = lambda a, k: jnp.pad(a, ((0, 0), (k, 0)), constant_values=_LOG_ZERO)[:, :-k]

  def step(alpha, inputs):
    emit_t, pad_t = inputs
    stay_or_advance = _logsumexp3(alpha, shift(alpha, 1),
                                  jnp.where(can_skip, shift(alpha, 2), _LOG_ZERO))
    new = stay_or_advance + emit_t
    return jnp.where(pad_t[:, None] > 0, alpha, new), None

  alpha, _ = jax.lax.scan(step, alpha0, (emit, logit_paddings.astype(jnp.float32).T))
  # Valid alignments end in the last label (state 2L-1) or the trailing blank (state 2L).
  last_blank = jnp.take_along_axis(alpha, (2 * label_len)[:, None], axis=1)[:, 0]
  last_label = jnp.take_along_axis(alpha, jnp.maximum(2 * label_len - 1, 0)[:, None], axis=1)[:, 0]
  last_label = jnp.where(label_len > 0, last_label, _LOG_ZERO)
  log_lik = jnp.logaddexp(last_blank, last_label)
  return jnp.where(log_lik > _LOG_ZERO / 2, -log_lik, jnp.inf)
