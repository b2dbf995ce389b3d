"""The trainer: turns one pure loss function into a compiled, checkpointed training run."""

from mmjax.train.config import defaults, layer_options, smoke, validate
from mmjax.train.loop import (fit, lower_step, restore_latest, train_or_restore, scalars,
                              DataError, FitResult, NonFiniteLossError)
from mmjax.train import stages
from mmjax.train.state import TrainState
