"""Serving: the generation engine, the batch it runs per model, and the per-character steppers.

    engine = GenerationEngine.from_directory(Path("checkpoints"))
    text = await engine.generate(GenerationRequest(seed="ROMEO:", model="lstm"))
    await engine.aclose()

core.py is the engine (a queue, one worker thread, futures resolved on the caller's loop),
batch.py one model's running batch (continuous batching), steppers.py one step of many streams.
"""

from charlm.engine.core import (
    DEFAULT_LENGTH,
    DEFAULT_TEMPERATURE,
    MAX_BATCH,
    MAX_GENERATE_LENGTH,
    MAX_SEED_LENGTH,
    MAX_WAITING,
    PRECISIONS,
    WEIGHT_DTYPES,
    EngineBusyError,
    EngineClosedError,
    EngineError,
    GenerationEngine,
    GenerationRequest,
    InvalidRequestError,
    ModelInfo,
    cpu_precisions,
)
from charlm.engine.steppers import Stepper, build_stepper

__all__ = ["DEFAULT_LENGTH", "DEFAULT_TEMPERATURE", "MAX_BATCH", "MAX_GENERATE_LENGTH", "MAX_SEED_LENGTH",
           "MAX_WAITING", "PRECISIONS", "WEIGHT_DTYPES", "EngineBusyError", "EngineClosedError",
           "EngineError", "GenerationEngine", "GenerationRequest", "InvalidRequestError", "ModelInfo",
           "Stepper", "build_stepper", "cpu_precisions"]
