"""Guards on discord.py's gateway connection, set per client on the library's own objects.

- `tolerate_unreadable_events`: one event discord.py cannot parse costs that event, not the
  connection.
- `tune_heartbeat_timeout`: a heartbeat not acknowledged by the time the next is due closes and
  resumes the connection, as Discord's documentation asks.

Both touch discord.py's private names: a library upgrade that moves them loses the guard, not the bot.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable

import discord

log = logging.getLogger(__name__)

# See tune_heartbeat_timeout.
HEARTBEAT_TIMEOUT_INTERVALS = 1.5


def tolerate_unreadable_events(parsers: dict[str, Callable[[dict], None]]) -> None:
    """Make one gateway event that discord.py cannot parse cost that event only.

    discord.py calls its parser for each event inside the gateway's read loop, unguarded: one
    payload with a field it does not expect (Discord adds fields and types over time) raises out
    of the loop and stops the client. Each parser of this client's connection state (this bot's
    only, nothing global) is wrapped to log the event and go on. A broken connection is not a
    parser's error, so it still closes and reconnects as before."""
    for event, parse in list(parsers.items()):
        parsers[event] = functools.partial(_parse_or_skip, event, parse)


def _parse_or_skip(event: str, parse: Callable[[dict], None], data: dict) -> None:
    try:
        parse(data)
    except Exception as error:
        log.warning("Skipped a %s gateway event that could not be read (%s: %s).", event,
                    type(error).__name__, str(error)[:200])
        log.debug("The unreadable %s event", event, exc_info=error)


def tune_heartbeat_timeout(client: discord.Client, shard_id: int) -> None:
    """Follow Discord's rule for a dead ("zombie") connection: a heartbeat not acknowledged by
    the time the next one is due means close and resume. discord.py instead waits for a fixed
    silence (60 s, whatever interval Discord asked for); it checks at each heartbeat, so a
    timeout of 1.5 intervals closes the connection at the first heartbeat after one that got
    no ACK, and its read gives up after 1.5 intervals of silence. Set per connection, on
    discord.py's own objects (private names: a library upgrade that moves them only loses this)."""
    try:
        socket = client._get_websocket(shard_id=shard_id)
        keep_alive = socket._keep_alive
        timeout = keep_alive.interval * HEARTBEAT_TIMEOUT_INTERVALS
    except (AttributeError, KeyError, TypeError):
        log.debug("Shard %s: no heartbeat handler to tune; keeping discord.py's timeout.", shard_id)
        return
    keep_alive.heartbeat_timeout = socket._max_heartbeat_timeout = timeout
