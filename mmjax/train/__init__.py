"""The trainer: turns one pure loss function into a compiled, checkpointed training run."""

from mmjax.train.config import defaults, validate
from mmjax.train.loop import fit, restore_latest, train_or_restore, FitResult, NonFiniteLossError
from mmjax.train.state import TrainState
