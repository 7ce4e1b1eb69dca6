"""Training: the loop behind train.py, its config, its resumable state, and the allocator setting.

    from charlm.training import TrainConfig, train
    summary = train(TrainConfig(max_steps=200), text, data_sha256, Path("runs/lstm.safetensors"))
"""

from charlm.training.allocator import keep_freed_memory, minor_page_faults
from charlm.training.config import (
    DEFAULT_DROPOUT,
    DEFAULT_WEIGHT_DECAY,
    OTHER_DROPOUT,
    OTHER_WEIGHT_DECAY,
    PRECISIONS,
    RESUME_MAY_CHANGE,
    TrainConfig,
    TrainConfigError,
    resolve_precision,
)
from charlm.training.loop import WeightAverage, learning_rate_at, make_optimizer, train, train_step

__all__ = ["DEFAULT_DROPOUT", "DEFAULT_WEIGHT_DECAY", "OTHER_DROPOUT", "OTHER_WEIGHT_DECAY", "PRECISIONS",
           "RESUME_MAY_CHANGE", "TrainConfig", "TrainConfigError", "WeightAverage", "keep_freed_memory",
           "learning_rate_at", "make_optimizer", "minor_page_faults", "resolve_precision", "train",
           "train_step"]
