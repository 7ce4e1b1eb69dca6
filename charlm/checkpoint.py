"""Checkpoints: one `.safetensors` file per model, tensors plus JSON metadata, never a pickle.

Metadata keys (all strings, as safetensors requires):
    format          "charlm-checkpoint"
    format_version  FORMAT_VERSION
    model           JSON of ModelConfig (kind and sizes)
    alphabet        JSON string of the alphabet's characters, in id order
    training        JSON training summary: data sha256, steps, validation loss, command, ...
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

import torch
from safetensors import SafetensorError, safe_open
from safetensors.torch import save_file

from charlm.alphabet import Alphabet
from charlm.errors import AlphabetError, CheckpointError
from charlm.models import CharModel, ModelConfig, build_model, config_from_dict

FORMAT_NAME = "charlm-checkpoint"
FORMAT_VERSION = "1"


@dataclass
class LoadedModel:
    """A model ready for inference, with everything its checkpoint said about it."""

    model: CharModel
    alphabet: Alphabet
    config: ModelConfig
    training: dict = field(default_factory=dict)
    path: Path | None = None


def atomic_save(tensors: dict[str, torch.Tensor], metadata: dict[str, str], path: Path) -> None:
    """Write to a temporary file in the same folder, then rename: a crash never leaves half a file."""
    path = Path(path)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata=metadata)
        os.chmod(temporary, 0o644)  # mkstemp makes 0600; checkpoints are read by other users (containers)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def save_checkpoint(
    path: str | Path, model: CharModel, alphabet: Alphabet, training: dict | None = None
) -> None:
    if len(alphabet) != model.config.vocab_size:
        raise CheckpointError(
            f"The alphabet has {len(alphabet)} characters but the model expects "
            f"{model.config.vocab_size}."
        )
    tensors = {name: value.detach().float().cpu().contiguous()
               for name, value in model.state_dict().items()}
    metadata = {
        "format": FORMAT_NAME,
        "format_version": FORMAT_VERSION,
        "model": json.dumps(model.config.to_dict()),
        "alphabet": json.dumps(alphabet.characters),
        "training": json.dumps(training or {}),
    }
    atomic_save(tensors, metadata, Path(path))


def read_metadata(path: str | Path) -> dict[str, str]:
    """The raw metadata of a checkpoint, after checking it is a charlm file of our version."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"Checkpoint {path} does not exist.")
    try:
        with safe_open(str(path), framework="pt") as reader:
            metadata = reader.metadata() or {}
    except (SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(
            f"Checkpoint {path} is not a readable safetensors file ({error})."
        ) from None
    if metadata.get("format") != FORMAT_NAME:
        raise CheckpointError(f"Checkpoint {path} is not a charlm checkpoint.")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            f"Checkpoint {path} has format version {metadata.get('format_version')!r}; "
            f"this charlm reads version {FORMAT_VERSION}."
        )
    return metadata


def _parse_json(path: Path, metadata: dict[str, str], key: str) -> object:
    try:
        return json.loads(metadata[key])
    except (KeyError, json.JSONDecodeError):
        raise CheckpointError(f"Checkpoint {path} has missing or damaged {key!r} metadata.") from None


def load_checkpoint(path: str | Path, device: torch.device | str = "cpu") -> LoadedModel:
    """Load a checkpoint for inference; every failure is a CheckpointError naming the file."""
    path = Path(path)
    metadata = read_metadata(path)
    model_values = _parse_json(path, metadata, "model")
    characters = _parse_json(path, metadata, "alphabet")
    training = _parse_json(path, metadata, "training")
    if not isinstance(model_values, dict) or not isinstance(characters, str):
        raise CheckpointError(f"Checkpoint {path} has malformed model or alphabet metadata.")
    try:
        config = config_from_dict(model_values)
        alphabet = Alphabet(characters)
    except (CheckpointError, AlphabetError) as error:
        raise CheckpointError(f"Checkpoint {path}: {error}") from None
    if len(alphabet) != config.vocab_size:
        raise CheckpointError(
            f"Checkpoint {path} has a {len(alphabet)}-character alphabet but vocab_size "
            f"{config.vocab_size}."
        )
    model = build_model(config)
    expected = model.state_dict()
    try:
        with safe_open(str(path), framework="pt") as reader:
            names = set(reader.keys())
            if names != set(expected):
                missing = sorted(set(expected) - names)
                unexpected = sorted(names - set(expected))
                raise CheckpointError(
                    f"Checkpoint {path} does not match a {config.kind} model "
                    f"(missing {missing}, unexpected {unexpected})."
                )
            tensors = {name: reader.get_tensor(name) for name in names}
    except (SafetensorError, OSError, ValueError, RuntimeError) as error:
        raise CheckpointError(f"Checkpoint {path} is damaged ({error}).") from None
    for name, tensor in tensors.items():
        if tensor.shape != expected[name].shape:
            raise CheckpointError(
                f"Checkpoint {path}: tensor {name} has shape {tuple(tensor.shape)} but the "
                f"metadata describes {tuple(expected[name].shape)}."
            )
        if not torch.isfinite(tensor).all():
            raise CheckpointError(f"Checkpoint {path}: tensor {name} holds NaN or infinite values.")
    model.load_state_dict(tensors)
    model.to(device).eval()
    return LoadedModel(model=model, alphabet=alphabet, config=config,
                       training=training if isinstance(training, dict) else {}, path=path)
