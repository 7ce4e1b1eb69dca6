"""Names the bot writes and later reads back, from stored rows or from Discord: one home for each.

- `VOICE_PREFIX`: a server voice as a model name ("voice:lore") in settings, replies and requests,
  and the start of the engine's key for a loaded voice ("voice:<guild>:lore:<time>", bot/voices/cache.py).
- A reply button's custom_id, `shk:<action>:<key>:<owner>`: `button_id` writes it,
  `BUTTON_ID` reads it back (bot/commands/replies.py), `BUTTON_ACTION` finds just the action
  for the metrics' labels (bot/ops/metrics.py).

A foundation module like bot/config.py: it imports nothing of the bot, and every layer may import it.
"""

from __future__ import annotations

import re

VOICE_PREFIX = "voice:"

BUTTON_PREFIX = "shk"
BUTTON_ACTIONS = ("again", "more", "delete", "why")  # the order of the buttons under a reply
_ACTIONS = "|".join(BUTTON_ACTIONS)
BUTTON_ID = re.compile(rf"{BUTTON_PREFIX}:(?P<action>{_ACTIONS}):(?P<key>[0-9a-f]{{16}}):"
                       r"(?P<owner>[0-9]{1,20})")
BUTTON_ACTION = re.compile(rf"{BUTTON_PREFIX}:(?P<action>{_ACTIONS}):")


# A /guess vote button's custom_id, `gss:<choice>:<key>`: `guess_button_id` writes it, `GUESS_ID`
# reads it back (bot/commands/guess_rounds.py).
GUESS_PREFIX = "gss"
GUESS_ID = re.compile(rf"{GUESS_PREFIX}:(?P<choice>shakespeare|bot):(?P<key>[0-9a-f]{{16}})")
# Every custom_id of ours: a press whose id matches none of these is not ours.
OUR_BUTTONS = (BUTTON_ID, GUESS_ID)


def voice_model(name: str) -> str:
    """The model name that stands for a server's voice: "voice:lore" for "lore"."""
    return f"{VOICE_PREFIX}{name}"


def button_id(action: str, key: str, owner_id: int) -> str:
    return f"{BUTTON_PREFIX}:{action}:{key}:{owner_id}"


def guess_button_id(choice: str, key: str) -> str:
    return f"{GUESS_PREFIX}:{choice}:{key}"
