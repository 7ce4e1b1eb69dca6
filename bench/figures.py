"""What several benches share: percentiles of measured times, and a fresh member to ask as.

Not a bench itself; the benches import it (`from bench.figures import percentile`) after putting
the repository on sys.path.
"""

from __future__ import annotations

import itertools

_users = itertools.count()


def percentile(values: list[float], fraction: float) -> float:
    """The value at `fraction` (0.5: the median) of the sorted values, nearest rank."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def summary(values: list[float]) -> dict:
    return {"p50_s": round(percentile(values, 0.5), 4), "p99_s": round(percentile(values, 0.99), 4),
            "count": len(values)}


def fresh(emu) -> str:
    """A new member of the emulator's first server: no cooldown of an earlier request applies."""
    name = f"bench-{next(_users)}"
    emu.world.add_member(name)
    return name
