"""Log lines as JSON objects (LOG_FORMAT=json), and which interaction a line was logged for.

With LOG_FORMAT=json every line is one object: time, level, logger, message, the exception's
traceback when there is one, and, for a line logged while the bot handles an interaction, its id,
guild and shard. The interaction comes from a ContextVar: `bind_interaction` sets it inside the
task discord.py runs the interaction in (the tree's interaction_check, a button's `answer`), so
it is seen by every line that task logs and by no other task.
"""

from __future__ import annotations

import contextvars
import json
import logging
from dataclasses import dataclass
from datetime import datetime, timezone

FORMATS = ("text", "json")


@dataclass(frozen=True)
class InteractionInfo:
    id: int
    guild: int | None
    shard: int | None


_current: contextvars.ContextVar[InteractionInfo | None] = contextvars.ContextVar("interaction", default=None)


def bind_interaction(interaction: object) -> None:
    """Mark every line the current task logs from now on as logged for `interaction`."""
    guild = getattr(interaction, "guild_id", None)
    client = getattr(interaction, "client", None)
    shards = getattr(client, "shard_count", None) or 1
    # Discord's rule for which shard a server's events go to; DMs go to shard 0.
    shard = (guild >> 22) % shards if guild is not None else 0
    _current.set(InteractionInfo(int(getattr(interaction, "id", 0)), guild, shard))


def current_interaction() -> InteractionInfo | None:
    return _current.get()


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        interaction = current_interaction()
        if interaction is not None:
            # Ids as strings, as Discord writes them: 64-bit ids lose digits in JavaScript's numbers.
            line["interaction"] = str(interaction.id)
            line["guild"] = None if interaction.guild is None else str(interaction.guild)
            line["shard"] = interaction.shard
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["exception"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def formatter_options(log_format: str) -> dict[str, logging.Formatter]:
    """The keyword arguments for discord.utils.setup_logging that give LOG_FORMAT's lines."""
    return {"formatter": JsonFormatter()} if log_format == "json" else {}
