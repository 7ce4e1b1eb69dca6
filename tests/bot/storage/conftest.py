"""Fixtures of the voice book's tests: a bot's (and its trainer's) configuration on one backend
(the `database` fixture: SQLite, then PostgreSQL), migrated, and its voice book."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.config import BotConfig
from bot.storage import open_voice_book
from tests.bot.storage.harness import migrate
from tests.helpers import tiny_checkpoint


@pytest.fixture
def config(tmp_path: Path, database: str | None) -> BotConfig:
    """A tiny checkpoint, 5 s per voice, the tables made."""
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir(exist_ok=True)
    tiny_checkpoint(checkpoints / "lstm.safetensors", "lstm", hidden_size=32)
    configured = BotConfig(db_path=tmp_path / "bot.sqlite3", database_url=database,
                           checkpoint_dir=checkpoints, voices_dir=tmp_path / "voices",
                           voice_train_seconds=5.0, voice_train_threads=1)
    migrate(configured)
    return configured


@pytest.fixture
async def book(config: BotConfig):
    opened = open_voice_book(config)
    yield opened
    await opened.close()
