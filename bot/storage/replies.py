"""The rows of the `replies` table: what the buttons under a generated reply need to serve a press.

Written before the reply is sent (so the buttons work after a restart or kill -9), bounded in
number, size and age, by either store with the same queries (bot/storage/queries.py); SQLite's
go through their own connection with a short busy timeout (a settings change waiting for another
process's lock never holds up a reply: past the timeout the reply goes out without buttons).
"""

from __future__ import annotations

from dataclasses import dataclass

# What the buttons under a reply need to serve a press, kept per reply (not in memory, so they
# survive restarts and kill -9), bounded in number, size and age.
REPLY_TTL_SECONDS = 14 * 24 * 3600
MAX_REPLIES = 20_000
MAX_REPLY_SEED = 2000  # a context-menu seed is a whole message; /shakespeare's at most 500
MAX_REPLY_PROMPT = 2000  # the text so far, by its end: what Continue primes the model with
MAX_REPLY_BODY = 2000  # the text one message shows; never more than a message holds
# A reply's buttons are stored before the reply is sent, so that write waits far less: past this,
# the reply goes out without buttons rather than late (another process held the lock that long).
REPLY_BUSY_TIMEOUT_MS = 500
# The `replies` table's columns, in ReplyRecord's order (ReplyRecord.from_row), in either database.
REPLY_COLUMNS = "key, requester_id, seed, model, temperature, length, body, prompt, continued, created_at"


@dataclass(frozen=True)
class ReplyRecord:
    """One generated message the bot posted, as its Again / Continue / Delete buttons need it.

    `seed` is what the user asked with (Again writes from it again); `body` the generated text this
    message shows; `prompt` the whole text so far, seed included, by its end (Continue primes the
    model with it); `continued`: the message holds a continuation (no seed shown)."""

    key: str
    requester_id: int
    seed: str
    model: str
    temperature: float
    length: int
    body: str
    prompt: str
    continued: bool = False
    created_at: float = 0.0

    @classmethod
    def from_row(cls, row: tuple) -> ReplyRecord:
        """From a `replies` row's columns in the table's order (either database's)."""
        *fields, continued, created_at = row
        return cls(*fields, continued=bool(continued), created_at=created_at)

    def __post_init__(self) -> None:
        # Bounded whatever a caller passes: the seed and the prompt keep their ends.
        object.__setattr__(self, "seed", self.seed[-MAX_REPLY_SEED:])
        object.__setattr__(self, "prompt", self.prompt[-MAX_REPLY_PROMPT:])
        object.__setattr__(self, "body", self.body[:MAX_REPLY_BODY])
