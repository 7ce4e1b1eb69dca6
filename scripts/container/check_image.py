"""Checks, from inside a fresh container of the bot's image, what the smoke test's first run left.

    podman run --rm -i --network=none -v VOLUME:/data --entrypoint python IMAGE - <check_image.py

Run after `--self-test` on the same /data volume. It checks that the image runs as a non-root user
with the CPU build of torch and the shipped checkpoints, and that the settings the self-test wrote
are still in the SQLite file on the volume. Prints one line per check; exits 1 on the first failure.
Apart from the self-test's constant, only the standard library and torch: it reads the file as
any SQLite client would, not through the bot's settings store.
"""

from __future__ import annotations

import os
import sqlite3
import sys
from pathlib import Path


def check(condition: bool, message: str) -> None:
    print(f"check_image: {'ok  ' if condition else 'FAIL'} {message}")
    if not condition:
        sys.exit(1)


def main() -> None:
    check(os.getuid() != 0, f"runs as a non-root user (uid {os.getuid()})")

    import torch

    check(torch.version.cuda is None, f"torch {torch.__version__} is the CPU build")

    # DATABASE_URL needs the PostgreSQL driver: psycopg 3, with its binary build (bot/storage/postgres.py).
    try:
        import psycopg

        drivers = f"psycopg {psycopg.__version__} ({psycopg.pq.__impl__})"
    except ImportError as error:
        drivers = f"{error.name} is missing"
    check("missing" not in drivers, f"PostgreSQL driver for DATABASE_URL: {drivers}")

    checkpoint_dir = Path(os.environ.get("CHECKPOINT_DIR", "/app/checkpoints"))
    checkpoints = sorted(path.name for path in checkpoint_dir.glob("*.safetensors"))
    check(bool(checkpoints), f"checkpoints shipped in {checkpoint_dir}: {', '.join(checkpoints)}")

    db_path = Path(os.environ.get("BOT_DB_PATH", "/data/bot.sqlite3"))
    check(db_path.is_file(), f"the settings database {db_path} is on the volume")
    # The self-test's admin set this temperature for its guild; importing the constant keeps the
    # two in step. guild_settings is the first migration's table, which never changes.
    from bot.devtools.selftest import TEMPERATURE

    # Read-only, so this check cannot create or change what it is checking.
    with sqlite3.connect(f"file:{db_path}?mode=ro", uri=True) as connection:
        integrity = connection.execute("PRAGMA integrity_check").fetchone()[0]
        check(integrity == "ok", f"integrity_check: {integrity}")
        journal_mode = connection.execute("PRAGMA journal_mode").fetchone()[0]
        check(journal_mode == "wal", f"journal_mode is {journal_mode} (WAL lets containers share it)")
        guilds = connection.execute(
            "SELECT guild_id FROM guild_settings WHERE temperature = ?", (TEMPERATURE,)
        ).fetchall()
    check(bool(guilds), f"the temperature {TEMPERATURE} the first run's admin set is still stored")

if __name__ == "__main__":
    main()
