"""bot/storage/schema.py: the tables written once, spelled by each database's dialect."""

from __future__ import annotations

import hashlib
import re

import pytest

from bot.storage.postgres import POSTGRES
from bot.storage.schema import FIELDS, MIGRATIONS, SCHEMA_VERSION, Dialect
from bot.storage.sqlite import SQLITE


@pytest.mark.parametrize("dialect", [SQLITE, POSTGRES], ids=lambda dialect: dialect.name)
def test_every_migration_is_spelled_whole_by_each_database(dialect):
    for number in range(1, SCHEMA_VERSION + 1):
        sql = dialect.migration(number)
        assert "{" not in sql and "}" not in sql, number
        assert re.search(r"CREATE (TABLE|INDEX|UNIQUE INDEX)", sql), number


def test_what_only_one_database_has_reaches_that_database_alone():
    sqlite, postgres = SQLITE.migration(5), POSTGRES.migration(5)
    assert "file TEXT NOT NULL" in sqlite and "bytea" not in sqlite and "STORAGE EXTERNAL" not in sqlite
    assert "data bytea NOT NULL" in postgres and "text_file" not in postgres and "STRICT" not in postgres
    assert "pg_notify" in POSTGRES.migration(1) and "pg_notify" not in SQLITE.migration(1)
    assert "CHECK (continued IN (0, 1))" in SQLITE.migration(3) and "boolean" in POSTGRES.migration(3)


def test_a_dialect_that_does_not_spell_every_field_is_refused():
    words = dict.fromkeys(FIELDS, "x")
    del words["real"]
    with pytest.raises(ValueError, match="real"):
        Dialect("sqlite", words)
    with pytest.raises(ValueError, match="extra"):
        Dialect("sqlite", {**dict.fromkeys(FIELDS, "x"), "extra": "y"})


# The shipped migrations' fingerprints (sha256, first 16 hex digits). A database has run them as
# they were: never edit one; append a new migration (and its fingerprint here once it ships).
SHIPPED = ["ae207f19f28e4ddb", "d5bce4806ce02564", "a07ebc643eb67944", "6341584770e10c21",
           "009e8ce748ba4086", "261984cd73a24794"]


def test_shipped_migrations_are_never_edited_nor_moved():
    made = [hashlib.sha256(migration.encode()).hexdigest()[:16] for migration in MIGRATIONS]
    assert made[:len(SHIPPED)] == SHIPPED
