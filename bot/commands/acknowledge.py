"""Discord's three seconds, kept for every command and button press whatever its handler waits on.

Discord drops an interaction ("This interaction failed", "did not respond") that is not
acknowledged within 3 s of its creation. A handler may wait on many things first: a lock (Continue
presses on one message), the engine's queue, the database, a voice loading. Instead of a fix per
handler, every command (`ShakespeareTree.interaction_check`) and press (`replies.answer`) goes
through `guard`, which gives the interaction a `GuardedResponse` and starts a timer: at
MARGIN_SECONDS after the bot received it, whatever has not been acknowledged is deferred, with the
visibility its handler would use (`DEFER`, a command's `extras`; a press says its own). The handler
then completes that deferral (an edit of @original; bot/answers.py's reply_privately does it for
sentences) and may take as long as Discord's 15 minutes allow.

The race: discord.py marks a response done only once its HTTP call returns, so the timer and a
handler could both answer (Discord: 40060 "already acknowledged"). `GuardedResponse` sends every
first response under one lock per interaction; whichever comes second sees the first. A handler's
own deferral after the guard's is that deferral, and its message after the guard's deferral
completes it.

An autocomplete cannot be deferred: it answers with what it has by `deadline` (`within_margin`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Literal, TypeVar

import discord

log = logging.getLogger(__name__)

# After this long the guard defers. Discord counts its 3 s from when it created the interaction;
# the gateway's delivery and the callback's own HTTP round trip come out of them, and on a loaded
# host the event loop may be late to run the timer, so half of the window is left for those.
MARGIN_SECONDS = 1.5
# How the guard defers an interaction it acknowledges: "public" or "private" thinking (a command's
# reply), or "update" (a press whose answer edits its message or follows it up).
Deferral = Literal["public", "private", "update"]
# A command says how it would defer in its extras: extras={DEFER: "public"}; private by default.
DEFER = "deferral"
T = TypeVar("T")


class GuardedResponse(discord.InteractionResponse):
    """An InteractionResponse whose first response is sent under one lock, shared with the guard's
    deferral (see the module docstring); `deadline` (loop time) is when the guard defers."""

    __slots__ = ("_claim", "deadline", "guard_deferred")

    def __init__(self, parent: discord.Interaction, deadline: float) -> None:
        super().__init__(parent)
        self._claim = asyncio.Lock()
        self.deadline = deadline
        self.guard_deferred = False

    async def defer(self, *, ephemeral: bool = False, thinking: bool = False) -> Any:
        async with self._claim:
            if self.guard_deferred:  # the guard's deferral stands for the handler's
                return None
            return await super().defer(ephemeral=ephemeral, thinking=thinking)

    async def send_message(self, content: Any = None, **options: Any) -> Any:
        async with self._claim:
            if not self.guard_deferred:
                return await super().send_message(content, **options)
        await complete(self._parent, self.type, content, **options)
        return None

    async def guard_defer(self, deferral: Deferral) -> None:
        """The guard's deferral: nothing if the handler answered (or is answering) first."""
        async with self._claim:
            if self.is_done():
                return
            if deferral == "update":
                await super().defer()
            else:
                await super().defer(ephemeral=deferral == "private", thinking=True)
            self.guard_deferred = True
        log.info("Interaction %s deferred by the guard: not answered within %.1f s.",
                 self._parent.id, MARGIN_SECONDS)


async def complete(interaction: discord.Interaction, deferred: object, content: Any = None, *,
                   ephemeral: bool = False, file: discord.File | None = None,
                   files: list[discord.File] | None = None, **options: Any) -> None:
    """A handler's first message, sent after the guard deferred: it replaces "thinking..." (the
    deferral's visibility stays), or after a deferred update it is a follow-up."""
    attachments = [file] if file is not None else list(files or [])
    options = {name: value for name, value in options.items()
               if name in ("embed", "embeds", "view", "allowed_mentions")}
    if deferred is discord.InteractionResponseType.deferred_message_update:
        await interaction.followup.send(content, ephemeral=ephemeral, files=attachments, **options)
    else:
        if attachments:
            options["attachments"] = attachments
        await interaction.edit_original_response(content=content, **options)


def guard(interaction: discord.Interaction, deferral: Deferral | Callable[[], Deferral]) -> GuardedResponse:
    """Give `interaction` a GuardedResponse and defer it at its deadline unless answered by then;
    the timer ends with the task that calls this (the interaction's). `deferral` may be a function,
    asked when the timer fires (a command is known only once discord.py has parsed it)."""
    loop = asyncio.get_running_loop()
    # Received late (its creation time is already past), the interaction has less than the margin.
    age = (discord.utils.utcnow() - interaction.created_at).total_seconds()
    response = GuardedResponse(interaction, loop.time() + MARGIN_SECONDS - min(max(age, 0.0), MARGIN_SECONDS))
    interaction._cs_response = response  # discord.py's cached slot for `interaction.response`
    if interaction.type is discord.InteractionType.autocomplete:
        return response  # cannot be deferred: it answers within_margin
    timer = loop.create_task(_defer_at_deadline(response, deferral), name=f"guard-{interaction.id}")
    owner = asyncio.current_task()
    if owner is not None:
        owner.add_done_callback(lambda _: timer.cancel())
    return response


async def _defer_at_deadline(response: GuardedResponse, deferral: Deferral | Callable[[], Deferral]) -> None:
    await asyncio.sleep(max(0.0, response.deadline - asyncio.get_running_loop().time()))
    if response.is_done():
        return
    try:
        await response.guard_defer(deferral() if callable(deferral) else deferral)
    except discord.HTTPException as error:  # expired already, or Discord unreachable
        log.warning("Could not defer interaction %s: %s", response._parent.id, error)


def command_deferral(interaction: discord.Interaction) -> Deferral:
    """How a command's handler defers: its extras[DEFER], else private."""
    command = interaction.command
    extras = getattr(command, "extras", None) or {}
    return extras.get(DEFER, "private")


async def within_margin(interaction: discord.Interaction, work: Awaitable[T], fallback: T) -> T:
    """`work`'s result if it comes before the interaction's deadline and without an error, else
    `fallback` (an autocomplete answers with what it has; the error is logged)."""
    response = interaction.response
    left = (response.deadline - asyncio.get_running_loop().time() if isinstance(response, GuardedResponse)
            else MARGIN_SECONDS)
    try:
        return await asyncio.wait_for(work, max(left, 0.0))
    except asyncio.TimeoutError:
        log.info("Interaction %s answered without what was not ready within %.1f s.", interaction.id,
                 MARGIN_SECONDS)
    except Exception as error:
        log.warning("Interaction %s answered without what failed: %s", interaction.id, error)
    return fallback
