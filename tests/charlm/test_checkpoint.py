import json
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file, save_file

from charlm.alphabet import Alphabet
from charlm.checkpoint import load_checkpoint, read_metadata, save_checkpoint
from charlm.errors import CheckpointError
from charlm.models import MODEL_KINDS, ModelConfig, build_model
from tests.helpers import tiny_checkpoint, tiny_model


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_round_trip_gives_identical_logits(tmp_path: Path, kind: str) -> None:
    model = tiny_model(kind, num_layers=2)
    path = tmp_path / f"{kind}.safetensors"
    save_checkpoint(path, model, Alphabet(), {"steps": 3, "val_nats_per_char": 2.5})
    loaded = load_checkpoint(path)
    ids = torch.randint(0, 100, (2, 9))
    torch.testing.assert_close(loaded.model(ids)[0], model(ids)[0], rtol=0, atol=0)
    assert loaded.training == {"steps": 3, "val_nats_per_char": 2.5}
    assert loaded.config == model.config


def test_the_alphabet_travels_with_the_checkpoint(tmp_path: Path) -> None:
    alphabet = Alphabet("xyz\n")
    torch.manual_seed(0)
    model = build_model(ModelConfig("gru", len(alphabet), 8, 4))
    save_checkpoint(tmp_path / "m.safetensors", model, alphabet)
    assert load_checkpoint(tmp_path / "m.safetensors").alphabet == alphabet


def test_nothing_is_unpickled(tmp_path: Path) -> None:
    """A pickle (torch.save) file is refused as unreadable rather than executed."""
    path = tmp_path / "model.safetensors"
    torch.save({"weights": torch.zeros(2)}, path)
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def _rewrite(path: Path, tensors=None, **metadata_changes) -> None:
    metadata = read_metadata(path)
    metadata.update(metadata_changes)
    save_file(tensors if tensors is not None else load_file(path), path, metadata=metadata)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="does not exist"):
        load_checkpoint(tmp_path / "absent.safetensors")


def test_truncated_file(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(CheckpointError, match=f"{path}.*(not a readable|damaged)"):
        load_checkpoint(path)


def test_corrupted_header(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    data = bytearray(path.read_bytes())
    data[8:20] = b"#" * 12
    path.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match=str(path)):
        load_checkpoint(path)


def test_wrong_format_version(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    _rewrite(path, format_version="99")
    with pytest.raises(CheckpointError, match="format version '99'"):
        load_checkpoint(path)


def test_shape_that_does_not_match_the_metadata(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    config = json.loads(read_metadata(path)["model"])
    _rewrite(path, model=json.dumps({**config, "hidden_size": 64}))
    with pytest.raises(CheckpointError, match="shape"):
        load_checkpoint(path)


def test_unknown_kind(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    config = json.loads(read_metadata(path)["model"])
    _rewrite(path, model=json.dumps({**config, "kind": "transformer"}))
    with pytest.raises(CheckpointError, match=f"{path}.*Unknown model kind"):
        load_checkpoint(path)


def test_missing_tensor(tmp_path: Path) -> None:
    path = tiny_checkpoint(tmp_path / "m.safetensors")
    tensors = load_file(path)
    tensors.pop("decoder.bias")
    _rewrite(path, tensors=tensors)
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(path)


def test_not_a_charlm_file(tmp_path: Path) -> None:
    path = tmp_path / "other.safetensors"
    save_file({"x": torch.zeros(3)}, path)
    with pytest.raises(CheckpointError, match="not a charlm checkpoint"):
        load_checkpoint(path)


def test_save_leaves_no_partial_file_on_failure(tmp_path: Path) -> None:
    model = tiny_model("lstm")
    with pytest.raises(CheckpointError):
        save_checkpoint(tmp_path / "m.safetensors", model, Alphabet("abc"))
    assert list(tmp_path.iterdir()) == []
