"""Training text: reading it, turning it into ids, splitting it, and cutting it into batches."""

from __future__ import annotations

import hashlib
import urllib.error
import urllib.request
from pathlib import Path

import torch

from charlm.alphabet import Alphabet
from charlm.errors import TrainingError

TINYSHAKESPEARE_URL = (
    "https://raw.githubusercontent.com/dmlc/web-data/master/mxnet/tinyshakespeare/input.txt"
)
TINYSHAKESPEARE_SHA256 = "86c4e6aa9db7c042ec79f339dcb96d42b0075e16b8fc2e86bf0ca57e2dc565ed"
TRAIN_FRACTION = 0.9  # nanoGPT's split: first 90% train, last 10% validation


def sha256_of(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_tinyshakespeare(cache_dir: Path) -> Path:
    """The seed post's corpus, downloaded once into `cache_dir` and checked by sha256."""
    target = cache_dir / "tinyshakespeare.txt"
    if target.is_file() and sha256_of(target.read_bytes()) == TINYSHAKESPEARE_SHA256:
        return target
    try:
        with urllib.request.urlopen(TINYSHAKESPEARE_URL, timeout=30) as response:
            payload = response.read()
    except (urllib.error.URLError, OSError) as error:
        raise TrainingError(
            f"Could not download tinyshakespeare ({error}); pass --data with a local text file."
        ) from None
    if sha256_of(payload) != TINYSHAKESPEARE_SHA256:
        raise TrainingError(
            "The downloaded tinyshakespeare does not match its sha256; pass --data with a local copy."
        )
    cache_dir.mkdir(parents=True, exist_ok=True)
    target.write_bytes(payload)
    return target


def read_text(path: Path) -> tuple[str, str]:
    """The file's text and the sha256 of its bytes; binary or non-UTF-8 files are refused."""
    try:
        payload = Path(path).read_bytes()
    except FileNotFoundError:
        raise TrainingError(f"Data file {path} does not exist.") from None
    except OSError as error:
        raise TrainingError(f"Cannot read data file {path} ({error.strerror}).") from None
    if b"\x00" in payload:
        raise TrainingError(f"Data file {path} looks binary (it contains NUL bytes).")
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise TrainingError(f"Data file {path} is not UTF-8 text.") from None
    return text, sha256_of(payload)


def encode_corpus(text: str, alphabet: Alphabet, source: str = "the data") -> torch.Tensor:
    ids = alphabet.encode_tensor(alphabet.normalise(text))
    if ids.numel() == 0:
        raise TrainingError(f"{source} has no characters left after normalising.")
    return ids


def split_ids(ids: torch.Tensor, train_fraction: float = TRAIN_FRACTION):
    cut = int(len(ids) * train_fraction)
    return ids[:cut], ids[cut:]


def as_streams(ids: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Cut ids into `batch_size` contiguous streams ([batch, length]); the ragged tail is dropped."""
    length = len(ids) // batch_size
    return ids[: length * batch_size].view(batch_size, length)


class StreamBatches:
    """char-rnn style batches: row b of every window continues row b of the previous window.

    That continuity is what lets training carry the recurrent state from one batch to the next,
    so the model learns dependencies longer than one window without back-propagating through them.

    With `shift_seed` set, every epoch moves all window boundaries by its own random 0 to
    seq_len - 1 characters (drawn from the seed and the epoch, so a resumed run draws the same), so
    back-propagation is not cut at the same characters in every epoch - the reason AWD-LSTM varies
    its window length. The room for the shift costs each epoch at most one window.
    """

    def __init__(self, ids: torch.Tensor, batch_size: int, seq_len: int,
                 shift_seed: int | None = None) -> None:
        streams = as_streams(ids, batch_size)
        room = seq_len - 1 if shift_seed is not None else 0
        self.windows = (streams.shape[1] - 1 - room) // seq_len
        if self.windows < 1:
            raise TrainingError(
                f"The training text ({len(ids)} characters) is shorter than one batch "
                f"({batch_size} x {seq_len + 1 + room}); use a smaller --batch-size or --seq-len."
            )
        self.streams = streams
        self.seq_len = seq_len
        self.shift_seed = shift_seed

    def shift(self, epoch: int) -> int:
        if self.shift_seed is None:
            return 0
        generator = torch.Generator().manual_seed(self.shift_seed * 1_000_003 + epoch)
        return int(torch.randint(0, self.seq_len, (1,), generator=generator))

    def window(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        """Inputs and targets of window `index` (wrapping around at each epoch's end)."""
        epoch, position = divmod(index, self.windows)
        start = self.shift(epoch) + position * self.seq_len
        chunk = self.streams[:, start : start + self.seq_len + 1]
        return chunk[:, :-1], chunk[:, 1:]

    def starts_epoch(self, index: int) -> bool:
        return index % self.windows == 0
