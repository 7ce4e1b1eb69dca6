"""/guess's rounds while they run: the vote buttons and their presses, the reveal loop, the
coalesced edits of the vote count, and the rounds this process must reveal itself.

A round's time is in the database (`reveal_at`), not in a timer of this process, so a round
survives a restart: every process runs `RoundKeeper`'s loop, which every TICK_SECONDS asks for the
rounds whose time is up, and reveals those of the servers it serves (the one UPDATE that claims a
round makes exactly one process reveal it, bot/storage/games.py). A round whose server nobody
serves any more (the bot was removed) is claimed by anyone after STRANDED_SECONDS, so it is scored
and goes.

Where the bot is installed, the round's message is edited through its channel (that needs no
token, so any process can do it, any time). Where it is not (a DM, a user's install), only the
interaction that posted the round can edit it, for Discord's 15 minutes: such a round is "solo",
revealed by the player's own vote (the press edits the message), or by this loop through the
interaction this process kept; after a restart, by the player's next press.

Vote counts are edited at most once every EDIT_SECONDS per round: a burst of votes becomes one
edit, well inside Discord's edit limits (5 per 5 s per channel). A count edit and the reveal's
edit of one message take the same lock, and a count edit after the reveal is skipped, so the
answer is never overwritten by a count.
"""

from __future__ import annotations

import asyncio
import logging
import random
import re
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, TypeVar

import discord

from bot.answers import UserError, reply_privately
from bot.commands.guess_text import LABELS, answer_of, revealed_text, round_text
from bot.commands.replies import KeyedLocks, answer
from bot.errors import BotError
from bot.i18n import Phrase, localize
from bot.names import GUESS_ID, guess_button_id
from bot.storage.games import CHOICES, Choice, GuessRecord, Revealed
from charlm.guess import Opening, shipped_openings

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)
T = TypeVar("T")

TICK_SECONDS = 1.0
EDIT_SECONDS = 2.0
STRANDED_SECONDS = 600.0
# Every database call on the way to an acknowledgement waits at most this long.
ACK_DB_SECONDS = 2.0

GONE = Phrase("This round is unknown or too old; start one with /guess play.")
OVER = Phrase("This round is over. {answer}")
VOTED = Phrase("Your vote: {choice}. You can change it until the answer comes {when}.")
CHANGED = Phrase("Vote changed to {choice}.")
NOT_YOUR_ROUND = Phrase(
    "Only the member who started this round guesses in it; start your own with /guess play.")
SLOW = Phrase("The game's database is slow right now; try again in a moment.")


def guess_view(key: str, locale: object, *, disabled: bool = False) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for choice in CHOICES:
        button = GuessButton(choice, key, locale)
        button.item.disabled = disabled
        view.add_item(button)
    return view


class GuessButton(discord.ui.DynamicItem[discord.ui.Button], template=GUESS_ID.pattern):
    """One of the two vote buttons, rebuilt from its custom_id for every press."""

    def __init__(self, choice: Choice, key: str, locale: object = "en") -> None:
        style = discord.ButtonStyle.primary if choice == "shakespeare" else discord.ButtonStyle.secondary
        super().__init__(discord.ui.Button(label=localize(LABELS[choice], locale), style=style,
                                           custom_id=guess_button_id(choice, key)))
        self.choice, self.key = choice, key

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> GuessButton:
        return cls(match["choice"], match["key"])  # type: ignore[arg-type]

    async def callback(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        # A vote is answered privately: the guard's deferral, if the database is slow, is private too.
        await answer(interaction, lambda: press_vote(interaction, self.key, self.choice),
                     costs_cooldown=False, deferral="private")


class RoundKeeper:
    """What this process knows of /guess rounds beside the database (see the module doc)."""

    def __init__(self, bot: ShakespeareBot) -> None:
        self.bot = bot
        self.rng = random.Random()  # which opening, and whether the bot writes the rest
        # The interactions that posted this process's open rounds: their tokens edit the message for
        # Discord's 15 minutes with no permission in the channel (the only way, for a solo round).
        self.posted: dict[str, discord.Interaction] = {}
        self._counting: dict[str, asyncio.Task] = {}
        self._dirty: set[str] = set()
        self._revealed: set[str] = set()
        self._locks = KeyedLocks()
        self._loop: asyncio.Task | None = None
        self._openings: asyncio.Future[list[Opening]] | None = None

    def start(self) -> None:
        self._openings = asyncio.ensure_future(asyncio.to_thread(shipped_openings))
        self._loop = asyncio.create_task(self._reveal_loop(), name="guess-reveals")

    async def openings(self) -> list[Opening]:
        if self._openings is None:
            self._openings = asyncio.ensure_future(asyncio.to_thread(shipped_openings))
        return await asyncio.shield(self._openings)

    async def stop(self) -> None:
        tasks = [task for task in (self._loop, *self._counting.values()) if task is not None]
        for task in tasks:
            task.cancel()
        if tasks:  # bounded: a database driver may swallow a cancellation (see postgres_store.close)
            await asyncio.wait(tasks, timeout=5)
        self._loop = None

    # -- vote counts --

    def count_changed(self, record: GuessRecord) -> None:
        """A vote was taken: edit the count soon (coalesced, see the module doc)."""
        self._dirty.add(record.key)
        if record.key not in self._counting:
            task = asyncio.create_task(self._edit_counts(record), name="guess-count")
            self._counting[record.key] = task

    async def _edit_counts(self, record: GuessRecord) -> None:
        try:
            while record.key in self._dirty:
                self._dirty.discard(record.key)
                votes = await self.bot.store.games.count(record.key)
                async with self._locks.hold(record.key):
                    if record.key in self._revealed or time.time() >= record.reveal_at:
                        return
                    await self._show(record, lambda locale, votes=votes: {
                        "content": round_text(record, votes, locale)})
                await asyncio.sleep(EDIT_SECONDS)
        except discord.NotFound:
            log.info("The message of /guess round %s is gone; its count is not shown.", record.key)
        except (discord.HTTPException, BotError) as error:
            log.warning("Could not show the vote count of /guess round %s: %s", record.key, error)
        finally:
            self._counting.pop(record.key, None)
            self._dirty.discard(record.key)

    # -- reveals --

    async def _reveal_loop(self) -> None:
        await self.bot.wait_until_ready()
        while True:
            try:
                await self.reveal_due()
            except asyncio.CancelledError:
                raise
            except Exception as error:  # the database away a moment: the next tick tries again
                log.warning("Could not reveal the /guess rounds that are due: %s", error)
            await asyncio.sleep(TICK_SECONDS)

    async def reveal_due(self) -> None:
        now = time.time()
        for key, guild_id, reveal_at in await self.bot.store.games.due(now):
            stranded = now - reveal_at > STRANDED_SECONDS
            ours = key in self.posted or (guild_id is not None and self.bot.get_guild(guild_id) is not None)
            if ours or stranded:
                await self.reveal(key, now)

    async def reveal(self, key: str, now: float) -> Revealed | None:
        """Claim, score and show one round; None when another process (or a press) had it."""
        revealed = await self.bot.store.games.reveal(key, now)
        if revealed is None:
            self.posted.pop(key, None)
            return None
        self._revealed.add(key)
        counting = self._counting.pop(key, None)
        if counting is not None:
            counting.cancel()
            await asyncio.gather(counting, return_exceptions=True)
        record = revealed.round
        try:
            async with self._locks.hold(key):
                await self._show(record, lambda locale: {"content": revealed_text(revealed, locale),
                                                         "view": guess_view(key, locale, disabled=True)})
        except discord.NotFound:
            log.info("/guess round %s was revealed, but its message is gone.", key)
        except discord.HTTPException as error:
            log.warning("Could not show the answer of /guess round %s: %s", key, error)
        finally:
            self.posted.pop(key, None)
            self._forget_later(key)
        return revealed

    async def _show(self, record: GuessRecord, change: Callable[[object], dict]) -> None:
        """Edit a round's message: through the interaction that posted it while this process holds
        it, else through its channel (a server that added the bot); a solo round posted by another
        process waits for its player's press. `change` gives the edit for a locale."""
        interaction = self.posted.get(record.key)
        if interaction is not None:
            await interaction.edit_original_response(**change(interaction.locale))
        elif record.guild_id is not None and record.message_id is not None:
            await self._message(record).edit(**change(self._locale(record)))

    def _forget_later(self, key: str) -> None:
        asyncio.get_running_loop().call_later(EDIT_SECONDS * 5, self._revealed.discard, key)

    def _message(self, record: GuessRecord) -> discord.PartialMessage:
        assert record.message_id is not None
        return self.bot.get_partial_messageable(record.channel_id).get_partial_message(record.message_id)

    def _locale(self, record: GuessRecord) -> object:
        guild = self.bot.get_guild(record.guild_id) if record.guild_id is not None else None
        return guild.preferred_locale if guild is not None else "en"


async def bounded(call: Awaitable[T], seconds: float = ACK_DB_SECONDS) -> T:
    """A database call on the way to an acknowledgement: past `seconds`, one sentence instead."""
    try:
        return await asyncio.wait_for(call, seconds)
    except asyncio.TimeoutError:
        raise UserError(SLOW) from None


async def press_vote(interaction: discord.Interaction[ShakespeareBot], key: str, choice: Choice) -> None:
    bot = interaction.client
    games = bot.store.games
    now = time.time()
    record = await bounded(games.get(key), ACK_DB_SECONDS / 2)
    if record is None or record.text is None:
        raise UserError(GONE)
    solo = record.guild_id is None
    if solo and interaction.user.id != record.starter_id:
        raise UserError(NOT_YOUR_ROUND)
    voted = None if record.revealed_at is not None else await bounded(
        games.vote(key, interaction.user.id, choice, now), ACK_DB_SECONDS / 2)
    if voted is None:
        if solo and record.revealed_at is None:  # its time is up and nobody revealed it: this press does
            await reveal_solo(interaction, key, now)
            return
        raise UserError(Phrase(OVER.template, answer=answer_of(record)))
    if solo:
        await reveal_solo(interaction, key, now)
        return
    label = LABELS[choice]
    sentence = (Phrase(CHANGED.template, choice=label) if voted.changed
                else Phrase(VOTED.template, choice=label, when=f"<t:{int(voted.round.reveal_at)}:R>"))
    await reply_privately(interaction, sentence)
    bot.guess.count_changed(voted.round)


async def reveal_solo(interaction: discord.Interaction[ShakespeareBot], key: str, now: float) -> None:
    """A solo round's answer, shown by the player's own press (an edit of the message pressed)."""
    # The press waited for the round and the vote already: the reveal gets what is left of 3 s.
    revealed = await bounded(interaction.client.store.games.reveal(key, now), ACK_DB_SECONDS / 2)
    interaction.client.guess.posted.pop(key, None)
    if revealed is None:
        record = await bounded(interaction.client.store.games.get(key), ACK_DB_SECONDS / 4)
        raise UserError(GONE if record is None else Phrase(OVER.template, answer=answer_of(record)))
    text = revealed_text(revealed, interaction.locale)
    if interaction.response.is_done():  # the guard deferred privately: the answer comes that way
        await reply_privately(interaction, text)
        return
    view = guess_view(key, interaction.locale, disabled=True)
    await interaction.response.edit_message(content=text, view=view,
                                            allowed_mentions=discord.AllowedMentions.none())
