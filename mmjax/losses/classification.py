"""Classification / regression losses and metrics: pure functions, computed in float32."""

import jax
import jax.numpy as jnp


def cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Per-example -sum_c q_c log softmax(logits)_c, where q is the one-hot label mixed with the
  uniform distribution: (1 - label_smoothing) * onehot + label_smoothing / classes (Szegedy et
  al. 2016). logits: [..., classes]; labels: int [...]. Returns float32 [...]."""
  if not 0.0 <= label_smoothing < 1.0:
    raise ValueError(f"label_smoothing={label_smoothing}; valid: 0 <= label_smoothing < 1.")
  logp = jax.nn.log_softmax(logits.astype(jnp.float32), axis=-1)
  # q puts 1 - s on the label and s / classes everywhere: no one-hot needed.
  return -((1.0 - label_smoothing) * jnp.take_along_axis(logp, labels[..., None], axis=-1)[..., 0]
           + label_smoothing * jnp.mean(logp, axis=-1))


def softmax_cross_entropy(logits, labels, label_smoothing: float = 0.0):
  """Mean over the batch of `cross_entropy`. logits: [batch, classes]; labels: int [batch]."""
  return jnp.mean(cross_entropy(logits, labels, label_smoothing))


def sigmoid_cross_entropy(logits, labels):
  """Multi-label loss: independent binary cross-entropy per class, mean over batch and classes.
  logits: [batch, classes]; labels: multi-hot [batch, classes] (0/1, or soft targets in [0, 1])."""
  logits, labels = logits.astype(jnp.float32), labels.astype(jnp.float32)
  if logits.shape != labels.shape:
    raise ValueError(f"labels shape {labels.shape} != logits shape {logits.shape}; multi-label "
                     "targets are multi-hot [batch, classes].")
  # log sigmoid is stable for large |logits|, unlike log(sigmoid(x)).
  loss = -(labels * jax.nn.log_sigmoid(logits) + (1.0 - labels) * jax.nn.log_sigmoid(-logits))
  return jnp.mean(loss)


def mse(predictions, targets):
  """Mean squared error over all elements. predictions, targets: [batch, targets]."""
  diff = predictions.astype(jnp.float32) - targets.astype(jnp.float32)
  return jnp.mean(diff * diff)


def accuracy(logits, labels):
  """Fraction of rows whose argmax equals the integer label. logits [batch, classes]."""
  return jnp.mean((jnp.argmax(logits, axis=-1) == labels).astype(jnp.float32))
