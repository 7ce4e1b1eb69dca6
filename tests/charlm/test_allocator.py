"""charlm.training.allocator: with freed memory kept, the seed post's one-character-per-call loop stops
paying page faults on every call."""

import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
LOOP = """
import sys
import torch
from charlm.training.allocator import keep_freed_memory, minor_page_faults
kept = keep_freed_memory() if sys.argv[1] == "keep" else None
if kept is False:
    print("unsupported"); raise SystemExit
torch.set_num_threads(1)
lstm = torch.nn.LSTM(64, 512, num_layers=2)  # the seed post's loop: one character per call
state = None
def step():
    global state
    output, state = lstm(torch.randn(1, 1, 64), state)
    output.sum().backward()
    state = tuple(part.detach() for part in state)
for _ in range(5):  # first touches of memory that is then kept
    step()
before = minor_page_faults()
for _ in range(20):
    step()
print(minor_page_faults() - before)
"""


def faults(mode: str) -> str:
    return subprocess.run([sys.executable, "-c", LOOP, mode], cwd=REPO, capture_output=True, text=True,
                          check=True).stdout.strip()


def test_kept_memory_is_reused_instead_of_faulted_in_again() -> None:
    kept = faults("keep")
    if kept == "unsupported":
        pytest.skip("the C library here is not glibc: there is no mallopt to call")
    default = int(faults("default"))
    assert default > 20 * 100, "the default allocator did not fault on every call; the test proves nothing"
    assert int(kept) < default / 10
