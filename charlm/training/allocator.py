"""Keep freed memory in the process, so hot loops do not pay the kernel's page faults.

By default glibc returns a large freed block to the operating system at once (blocks above its
mmap threshold, and the top of the heap above its trim threshold); the next call that allocates
as much gets fresh pages, and the kernel zeroes each one on first touch. The seed post's training
loop allocates and frees the fused module's workspace on every one-character call, so it pays
thousands of page faults per character (bench/train_speed.py --default-allocator shows them;
the figures: docs/experiments.md). train.py and both benchmarks call `keep_freed_memory` first,
so no ratio is flattered by faults on one side only.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import resource

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
MMAP_THRESHOLD_MAX = 32 * 1024 * 1024  # glibc's ceiling on 64-bit systems


def keep_freed_memory() -> bool:
    """Raise glibc's trim and mmap thresholds; False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    libc = ctypes.CDLL(name)
    if not hasattr(libc, "mallopt"):
        return False
    trimmed = libc.mallopt(M_TRIM_THRESHOLD, 1 << 30)
    return bool(trimmed and libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_MAX))


def return_large_blocks(threshold: int = 4 * 1024 * 1024) -> bool:
    """The opposite trade, for a long-running server that loads and drops models: blocks of at
    least `threshold` bytes are mmapped and go back to the operating system when freed. glibc's
    default threshold moves up after each large free, after which such blocks come from the heap
    and its arenas and stay there, fragmented; a process that loaded 50 voices in turn through a
    10-voice cache grew by 1.1 GB more than the cache holds (bench/voice_serving.py). Fixed at
    4 MB, a model's weights and buffers are returned, and a generation step's tensors (smaller)
    still reuse the heap. False where the C library is not glibc."""
    name = ctypes.util.find_library("c")
    if not name:
        return False
    libc = ctypes.CDLL(name)
    return bool(hasattr(libc, "mallopt") and libc.mallopt(M_MMAP_THRESHOLD, threshold))


def minor_page_faults() -> int:
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
