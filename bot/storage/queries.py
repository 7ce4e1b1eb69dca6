"""Every query the settings store and the replies table run, written once for both databases.

Placeholders are `?` (SQLite's); bot/storage/postgres.py `placeholders` turns them into psycopg's
`%s`. Both databases take the same upserts (INSERT ... ON CONFLICT ... DO UPDATE) and RETURNING;
the one thing they spell differently here, the current time, is an argument (`NOW`).
"""

from __future__ import annotations

from bot.storage.replies import REPLY_COLUMNS, ReplyRecord
from bot.storage.settings import SCOPES, Scope, SettingName

# The current time as each database writes it into `updated_at` (a TEXT column in SQLite).
NOW = {"sqlite": "datetime('now')", "postgres": "now()"}


def read_settings(scope: Scope) -> str:
    table, key = SCOPES[scope]
    return f"SELECT temperature, length, model FROM {table} WHERE {key} = ?"


def write_setting(scope: Scope, name: SettingName, now: str) -> str:
    """Store one setting of one owner; RETURNING hands back the row this very statement wrote, so
    the reply states the value this person chose even when other changes queue right behind it.
    `name` is one of three column names (check_setting refused anything else); table and key come
    from SCOPES."""
    table, key = SCOPES[scope]
    return (f"INSERT INTO {table} ({key}, {name}) VALUES (?, ?) "
            f"ON CONFLICT ({key}) DO UPDATE SET {name} = excluded.{name}, updated_at = {now} "
            "RETURNING temperature, length, model")


def delete_settings(scope: Scope) -> str:
    table, key = SCOPES[scope]
    return f"DELETE FROM {table} WHERE {key} = ?"


READ_STATE = "SELECT value FROM bot_state WHERE key = ?"
WRITE_STATE = ("INSERT INTO bot_state (key, value) VALUES (?, ?) "
               "ON CONFLICT (key) DO UPDATE SET value = excluded.value")
CHECK = "SELECT count(*) FROM guild_settings"

INSERT_REPLY = f"INSERT INTO replies ({REPLY_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
# Expired replies, and those past the newest `most` (parameters: the oldest time kept, most).
PRUNE_REPLIES = ("DELETE FROM replies WHERE created_at < ? OR key NOT IN "
                 "(SELECT key FROM replies ORDER BY created_at DESC, key DESC LIMIT ?)")
READ_REPLY = f"SELECT {REPLY_COLUMNS} FROM replies WHERE key = ? AND created_at >= ?"
UPDATE_REPLY = "UPDATE replies SET body = ?, prompt = ? WHERE key = ?"


def reply_values(reply: ReplyRecord, created_at: float) -> tuple:
    """INSERT_REPLY's parameters for `reply`, stored at `created_at` (Unix seconds)."""
    return (reply.key, reply.requester_id, reply.seed, reply.model, float(reply.temperature), reply.length,
            reply.body, reply.prompt, bool(reply.continued), created_at)
