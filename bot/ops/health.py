"""The heartbeat file a serving bot keeps fresh, and the check `python -m bot healthcheck` makes.

A process that merely runs is not healthy: the file is only rewritten while the gateway is
connected and the settings database answers, so a container whose bot lost Discord, or whose
/data volume went away, turns unhealthy within MAX_AGE_SECONDS.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

INTERVAL_SECONDS = 15.0
MAX_AGE_SECONDS = 60.0


def write_heartbeat(path: Path, details: dict[str, object]) -> None:
    """Replace the file atomically, so a reader never sees half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    temporary.write_text(json.dumps({"time": time.time(), "pid": os.getpid(), **details}))
    os.replace(temporary, path)


def remove_heartbeat(path: Path) -> None:
    path.unlink(missing_ok=True)


def check_heartbeat(path: Path, max_age: float = MAX_AGE_SECONDS, now: float | None = None) -> str | None:
    """None when the heartbeat is fresh, else one sentence saying what is wrong."""
    try:
        beat = json.loads(path.read_text())
        age = (time.time() if now is None else now) - float(beat["time"])
    except FileNotFoundError:
        return f"No heartbeat at {path}: the bot is not running, or not connected yet."
    except (OSError, ValueError, KeyError, TypeError) as error:
        return f"The heartbeat at {path} cannot be read ({error})."
    if age > max_age:
        return f"The last heartbeat is {age:.0f} s old (limit {max_age:.0f} s): the bot is not serving."
    return None
