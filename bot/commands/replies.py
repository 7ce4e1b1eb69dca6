"""Replies people play with: the Again / Continue / Delete / Why? buttons under every generated message.

A button's custom_id carries what cannot go stale - the action, the key of the stored reply and who
asked for it, `shk:more:0123456789abcdef:123456789` - and the rest (seed, model, temperature,
length, the text so far) is a `ReplyRecord` in the store, written before the message is sent. So
no memory of this process is needed to serve a press: buttons work after a restart, on messages
made before it, and from any shard. `ReplyButton` is a discord.py DynamicItem registered once on
the client; it turns any such custom_id into a button with a callback.

- Again writes a new text from the same seed, model, temperature and length, as a new message.
- Continue primes the model with the text so far (seed included, by its end) and writes `length`
  more characters: the message is edited to hold them while everything fits one message, else the
  continuation is a new message (a follow-up, shown as a reply to it). A press is acknowledged
  before anything else (a deferred update); then presses on one message are served one at a time,
  in order, so members pressing at once all get text and nothing is lost or written twice.
- Delete removes the message, for the member who asked or members with Manage Messages.
- Why? shows the member who pressed it, privately, how likely the model found each character
  (bot/commands/why.py).

Again and Continue count against the user's cooldown and the engine's busy rule like /shakespeare;
a press the bot refused for its own reasons (busy, restarting) gives its cooldown back. Why? has a
cooldown of its own (bot/commands/why.py), so it can be pressed at once on a reply just written.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import secrets
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

import discord

from bot.answers import UserError, expired_interaction, log_expired, reply_privately, sentence_for
from bot.commands.acknowledge import Deferral, guard
from bot.commands.formatting import continuation_reply, fits_whole, generation_reply
from bot.commands.voice import choose_stored
from bot.commands.why import explain
from bot.errors import INTERNAL, RESTARTING, SettingsUnavailableError
from bot.i18n import Phrase
from bot.names import BUTTON_ID, OUR_BUTTONS, button_id
from bot.storage.replies import ReplyRecord
from bot.voices.cache import Chosen, shipped
from charlm.engine import GenerationRequest

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

TEXT_FILE = "shakespeare.txt"  # a text too long for one message comes whole as this attachment
# action -> (label, style); the order is the order of the buttons.
BUTTONS = {"again": ("Again", discord.ButtonStyle.primary),
           "more": ("Continue", discord.ButtonStyle.secondary),
           "delete": ("Delete", discord.ButtonStyle.danger),
           "why": ("Why?", discord.ButtonStyle.secondary)}  # bot/commands/why.py
TOO_OLD = Phrase("This reply is too old for its buttons; use /shakespeare for a new one.")
NOT_OURS = Phrase("This button no longer works; use /shakespeare for a new reply.")
NOT_YOURS = Phrase("Only the member who asked for this text, or members with Manage Messages, can delete it.")
GONE = Phrase("That message is already gone.")
# How the acknowledgement guard defers a press not answered in time: Again's answer is a new public
# message ("thinking..." first, as write_reply's own deferral); Continue and Delete change the
# message pressed or follow it up (a deferred update).
DEFERRALS: dict[str, Deferral] = {"again": "public", "more": "update", "delete": "update", "why": "update"}


def new_key() -> str:
    return secrets.token_hex(8)


class ReplyButton(discord.ui.DynamicItem[discord.ui.Button], template=BUTTON_ID.pattern):
    """One of the buttons; rebuilt from its custom_id for every press (see the module doc)."""

    def __init__(self, action: str, key: str, owner_id: int) -> None:
        label, style = BUTTONS[action]
        super().__init__(discord.ui.Button(label=label, style=style,
                                           custom_id=button_id(action, key, owner_id)))
        self.action, self.key, self.owner_id = action, key, owner_id

    @classmethod
    async def from_custom_id(cls, interaction: discord.Interaction, item: discord.ui.Button,
                             match: re.Match[str], /) -> ReplyButton:
        return cls(match["action"], match["key"], int(match["owner"]))

    async def callback(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        handler = {"again": press_again, "more": press_continue, "delete": press_delete,
                   "why": press_why}[self.action]
        await answer(interaction, lambda: handler(interaction, self),
                     costs_cooldown=self.action in ("again", "more"), deferral=DEFERRALS[self.action])


def reply_view(key: str, owner_id: int) -> discord.ui.View:
    view = discord.ui.View(timeout=None)
    for action in BUTTONS:
        view.add_item(ReplyButton(action, key, owner_id))
    return view


def unserved_press(interaction: discord.Interaction) -> bool:
    """A button press that ReplyButton will not see: discord.py drops a custom_id that matches no
    template, and one not found on the message it came with (forged, stale, another bot's)."""
    if interaction.type is not discord.InteractionType.component:
        return False
    custom_id = (interaction.data or {}).get("custom_id")
    if not isinstance(custom_id, str) or not any(ours.fullmatch(custom_id) for ours in OUR_BUTTONS):
        return True
    message = interaction.message
    if message is None:
        return True
    return not any(getattr(child, "custom_id", None) == custom_id
                   for row in message.components for child in getattr(row, "children", []))


async def answer(interaction: discord.Interaction[ShakespeareBot], handler: Callable[[], Awaitable[None]],
                 *, costs_cooldown: bool, deferral: Deferral) -> None:
    """Run a press like the tree runs a command: acknowledged within Discord's 3 s whatever it
    waits on (bot/commands/acknowledge.py, with `deferral`), refused while stopping, tracked while
    running, every error one private sentence (tracebacks to the log), the cooldown given back on
    failure."""
    guard(interaction, deferral)
    bot = interaction.client
    bot.metrics.handling(interaction)  # metrics: its log lines carry its id
    if not bot.in_flight.accepting:
        bot.metrics.interaction_done(interaction, "refused")  # metrics
        await reply_privately(interaction, RESTARTING)
        return
    task = asyncio.current_task()
    if task is not None:
        bot.in_flight.track(task, lambda: reply_privately(interaction, RESTARTING))
    charged = False
    try:
        if costs_cooldown:
            bot.cooldown.check(interaction)
            charged = True
        await handler()
        bot.metrics.interaction_done(interaction)  # metrics: answered
    except Exception as error:
        bot.metrics.interaction_done(interaction, error)  # metrics: refused, busy or failed
        if charged:
            bot.cooldown.give_back_if_ours(interaction, error)
        if expired_interaction(error):
            log_expired(interaction)
            return
        sentence = sentence_for(error)
        if sentence is None:
            log.error("A button press failed for interaction %s", interaction.id, exc_info=error)
            sentence = INTERNAL
        await reply_privately(interaction, sentence)


async def generate(interaction: discord.Interaction[ShakespeareBot], request: GenerationRequest,
                   defer: Callable[[], Awaitable[None]]) -> str:
    """The engine's text for `request`, calling `defer` first when it takes a while.

    One step of the event loop lets the engine take or refuse the request (a full queue, a seed it
    cannot use) while the refusal can still be a private reply; after a public deferral Discord
    keeps whatever replaces it public."""
    interaction.client.cooldown.charge(interaction, request.length)  # long texts wait longer
    generation = asyncio.ensure_future(interaction.client.voice_cache.generate(request))
    interaction.client.metrics.time_generation(generation, request.model)  # metrics: latency, characters
    try:
        await asyncio.sleep(0)
        if not generation.done() and not interaction.response.is_done():
            await defer()
        return await generation
    finally:
        generation.cancel()  # only has an effect when the interaction failed first


async def store_buttons(bot: ShakespeareBot, record: ReplyRecord) -> discord.ui.View | None:
    """The buttons for a reply, once what they need is stored; None (a reply without buttons)
    when the store cannot take it: the text matters more than the buttons."""
    try:
        await bot.store.save_reply(record)
    except SettingsUnavailableError as error:  # damaged, full or replaced: the store logged it once
        log.debug("Reply %s is sent without buttons: %s", record.key, error)
        return None
    except Exception as error:  # the settings database is busy, or something else went wrong
        log.warning("Reply %s is sent without buttons: storing it failed (%s).", record.key, error)
        return None
    return reply_view(record.key, record.requester_id)


async def write_reply(interaction: discord.Interaction[ShakespeareBot], request: GenerationRequest,
                      *, chosen: Chosen | None = None, again_seed: str | None = None) -> None:
    """Generate for `request` and answer with a new message that has the buttons under it.

    `chosen` names the model as the reply shows and stores it (a server voice's engine key is
    neither); `again_seed` is what Again writes from (the request's seed unless given)."""
    chosen = chosen or shipped(request.model)
    text = await generate(interaction, request, lambda: interaction.response.defer(thinking=True))
    bot = interaction.client
    record = ReplyRecord(new_key(), interaction.user.id, seed=again_seed or request.seed, model=chosen.stored,
                         temperature=request.temperature, length=request.length, body=text,
                         prompt=request.seed + text)
    view = await store_buttons(bot, record)
    options = {"model": chosen.shown, "temperature": request.temperature, "locale": interaction.locale}
    attached = not fits_whole(request.seed, text, **options) and may_attach(interaction)
    content = generation_reply(request.seed, text, attached=attached, **options)
    extra: dict = {"view": view} if view is not None else {}
    if attached:  # what fits is shown, the whole text comes as a file
        extra["file"] = text_file(request.seed + text)
    none = discord.AllowedMentions.none()
    if interaction.response.is_done():  # deferred with "thinking...": the answer completes it
        files = [extra.pop("file")] if "file" in extra else []
        await interaction.edit_original_response(content=content, allowed_mentions=none, attachments=files,
                                                 **extra)
    else:
        await interaction.response.send_message(content, allowed_mentions=none, **extra)


def may_attach(interaction: discord.Interaction) -> bool:
    """Whether a reply here may carry a file: the app's permissions where it was used (the bot's
    in a server that added it; the user's own where only their install reaches). Without Attach
    Files the reply shows what fits and says the text was cut."""
    return interaction.app_permissions.attach_files


def text_file(text: str) -> discord.File:
    return discord.File(io.BytesIO(text.encode("utf-8")), filename=TEXT_FILE)


async def stored_reply(interaction: discord.Interaction[ShakespeareBot], key: str) -> ReplyRecord:
    record = await interaction.client.store.get_reply(key)
    if record is None:
        raise UserError(TOO_OLD)
    return record


def request_from(record: ReplyRecord, seed: str, chosen: Chosen) -> GenerationRequest:
    return GenerationRequest(seed=seed, model=chosen.engine_key, temperature=record.temperature,
                             length=record.length)


async def press_again(interaction: discord.Interaction[ShakespeareBot], button: ReplyButton) -> None:
    record = await stored_reply(interaction, button.key)
    # A model no longer loaded here is served by another; a voice since deleted is one sentence.
    chosen = await choose_stored(interaction, record.model)
    await write_reply(interaction, request_from(record, record.seed, chosen), chosen=chosen)


async def press_continue(interaction: discord.Interaction[ShakespeareBot], button: ReplyButton) -> None:
    bot = interaction.client
    message = interaction.message
    assert message is not None  # ReplyButton only sees presses that came with their message
    # Acknowledged first (a deferred update shows nothing): a press waiting below for the one
    # before it, however long that one writes, is never dropped by Discord.
    await interaction.response.defer()
    async with bot.reply_locks.hold(message.id):
        record = await stored_reply(interaction, button.key)  # read inside: the last press's text
        chosen = await choose_stored(interaction, record.model)
        request = request_from(record, record.prompt, chosen)
        text = await generate(interaction, request, interaction.response.defer)  # acknowledged: no deferral
        body, prompt = record.body + text, record.prompt + text
        options = {"model": chosen.shown, "temperature": request.temperature, "locale": interaction.locale}
        if fits_whole("" if record.continued else record.seed, body, **options):
            content = (continuation_reply(body, **options) if record.continued
                       else generation_reply(record.seed, body, **options))
            try:
                await interaction.edit_original_response(
                    content=content, view=reply_view(record.key, record.requester_id),
                    allowed_mentions=discord.AllowedMentions.none())
            except discord.NotFound:
                raise UserError(GONE) from None
            await bot.store.update_reply(record.key, body=body, prompt=prompt)
            return
        # The message is full: the continuation is a follow-up of the press, which Discord shows as
        # a reply to the message pressed, with buttons of its own. A follow-up, not a channel
        # message: it needs no permission in the channel, and works where the bot is not a member
        # (a user's install), which is the same for every install.
        follow = ReplyRecord(new_key(), interaction.user.id, seed=record.seed, model=chosen.stored,
                             temperature=request.temperature, length=request.length, body=text,
                             prompt=prompt, continued=True)
        view = await store_buttons(bot, follow)
        extra: dict = {"view": view} if view is not None else {}
        attached = not fits_whole("", text, **options) and may_attach(interaction)
        content = continuation_reply(text, attached=attached, **options)
        if attached:
            extra["file"] = text_file(text)
        await interaction.followup.send(content, allowed_mentions=discord.AllowedMentions.none(), **extra)
        await bot.store.update_reply(record.key, body=record.body, prompt=prompt)


async def press_delete(interaction: discord.Interaction[ShakespeareBot], button: ReplyButton) -> None:
    allowed = interaction.user.id == button.owner_id or interaction.permissions.manage_messages
    if not allowed:
        raise UserError(NOT_YOURS)
    await interaction.response.defer()
    try:
        # Through the press's own token (@original of a button press is the message it is on), not
        # the channel: that needs no permission and works where the bot is not a member.
        await interaction.delete_original_response()
    except discord.NotFound:
        raise UserError(GONE) from None


async def press_why(interaction: discord.Interaction[ShakespeareBot], button: ReplyButton) -> None:
    bot = interaction.client
    bot.why_cooldown.check(interaction)  # its own: a reply just written can be explained at once
    await interaction.response.defer()  # an update that changes nothing: @original stays the message
    try:
        await interaction.original_response()  # still there?
    except discord.NotFound:
        raise UserError(GONE) from None
    message = interaction.message
    assert message is not None  # ReplyButton only sees presses that came with their message
    async with bot.reply_locks.hold(message.id):  # after a Continue in flight: the text it wrote
        record = await stored_reply(interaction, button.key)
    await explain(interaction, record)


class KeyedLocks:
    """One asyncio.Lock per key, alive only while someone holds or waits for it."""

    def __init__(self) -> None:
        self._locks: dict[int, tuple[asyncio.Lock, int]] = {}

    def __len__(self) -> int:
        return len(self._locks)

    def hold(self, key: int) -> _Held:
        return _Held(self, key)


class _Held:
    def __init__(self, locks: KeyedLocks, key: int) -> None:
        self.locks, self.key = locks, key

    async def __aenter__(self) -> None:
        lock, users = self.locks._locks.get(self.key, (asyncio.Lock(), 0))
        self.locks._locks[self.key] = (lock, users + 1)
        try:
            await lock.acquire()
        except BaseException:
            self._leave()
            raise

    async def __aexit__(self, *exc_info: object) -> None:
        self.locks._locks[self.key][0].release()
        self._leave()

    def _leave(self) -> None:
        lock, users = self.locks._locks[self.key]
        if users == 1:
            del self.locks._locks[self.key]
        else:
            self.locks._locks[self.key] = (lock, users - 1)
