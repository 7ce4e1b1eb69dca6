"""A dictionary that keeps at most a given number of entries, dropping the least recently used:
the settings stores' read caches, which would otherwise keep a row for every server and person
the process ever read."""

from __future__ import annotations

from collections import OrderedDict
from typing import TypeVar

Key = TypeVar("Key")
Value = TypeVar("Value")

# Settings rows a store keeps in memory (each some hundred bytes): the servers and people active
# lately; any other is read from the database again.
CACHED_SETTINGS = 10_000


class LeastRecentlyUsed(OrderedDict[Key, Value]):
    """An OrderedDict bounded to `most` entries: `get` and a write mark an entry as just used, and
    a write past the bound drops the entry used longest ago."""

    def __init__(self, most: int | None = None) -> None:
        super().__init__()
        self.most = CACHED_SETTINGS if most is None else most

    def get(self, key: Key, default: Value | None = None) -> Value | None:
        if key not in self:
            return default
        self.move_to_end(key)
        return self[key]

    def __setitem__(self, key: Key, value: Value) -> None:
        super().__setitem__(key, value)
        self.move_to_end(key)
        while len(self) > self.most:
            self.popitem(last=False)
