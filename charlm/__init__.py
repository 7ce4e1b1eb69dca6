"""charlm: character-level language models (the seed post's RNN, plus RNN/LSTM/GRU) for text.

Knows nothing of Discord or SQLite; the bot imports it, never the other way round.
"""

from charlm.alphabet import Alphabet
from charlm.checkpoint import LoadedModel, load_checkpoint, save_checkpoint
from charlm.errors import CharLMError, CheckpointError, SamplingError, TrainingError
from charlm.models import MODEL_KINDS, CharModel, ModelConfig, build_model
from charlm.sampling import sample

__version__ = "0.1.0"

__all__ = ["MODEL_KINDS", "Alphabet", "CharLMError", "CharModel", "CheckpointError", "LoadedModel",
           "ModelConfig", "SamplingError", "TrainingError", "build_model", "load_checkpoint",
           "sample", "save_checkpoint", "__version__"]
