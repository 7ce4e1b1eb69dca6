"""/voice: a server's own voices. An admin uploads a text, the trainer process learns it in the
background, and the server's members write with it through /shakespeare model:<name>.

The admin's private reply follows the job: queued (place in line), training (percent, loss so far,
time left, the time budget until the first report), then ready (the held-out loss before and after,
and a short sample in the new voice) or why not, each edit with the newest picture of the training
(bot/commands/voice_progress.py). It is edited every PROGRESS_SECONDS while Discord's token for it
lives (15 minutes); /voice status shows the same sentence and picture later.

An upload costs the bot a download and a second or so of CPU, so /voice train refuses everything
it can before fetching the file: a bad name or base, a URL not on Discord's attachment host, a
stated size past 2 MB, a server whose last upload is still being fetched (one at a time per
server), a server past its pace (bot/commands/pace.py), then (after the acknowledgement) a name
taken, a server at its voice limit or with a job already training. The text is decoded and
checked on a worker thread, never on the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import math
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.answers import UserError, reply_privately
from bot.commands.acknowledge import within_margin
from bot.commands.options import (
    MAX_CHOICE_LENGTH,
    MAX_CHOICES,
    check_server_manager,
    in_server_with_bot,
    model_autocomplete,
    require_loaded,
    serving_model,
)
from bot.commands.pace import settings_pace_check
from bot.commands.voice_progress import progress_reply, voice_sample
from bot.errors import BAD_OPTION, VoiceError
from bot.i18n import Phrase, localize
from bot.names import voice_model
from bot.storage.settings import DEFAULT_SETTINGS
from bot.storage.voices import MAX_NAME_LENGTH, MAX_VOICES_PER_SERVER, NAME, Job, Voice, check_name
from bot.voices.cache import Chosen, ask_book, shipped, voice_name
from bot.voices.upload import check_size, check_source, check_text, decode_text, download

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

PROGRESS_SECONDS = 5.0
MANAGERS_ONLY = Phrase("Only members with the Manage Server permission can manage this server's voices.")
ONE_UPLOAD = Phrase("This server's last upload is still being fetched and checked; wait for its answer.")
TOKEN_SECONDS = 14 * 60  # Discord's interaction token lasts 15 minutes; stop editing before


def describe_job(job: Job, position: int | None = None, budget_seconds: float | None = None) -> Phrase:
    """The job's state in one sentence; `budget_seconds` is the time left before any is reported."""
    if job.state == "queued":
        return Phrase("Voice {name} is queued: number {position} in line.", name=job.name,
                      position=position or 1)
    if job.state == "running":
        so_far = ("" if job.bits_now is None or job.bits_before is None
                  else Phrase("; held-out loss before {before}, training loss now {now} bits/char",
                              before=f"{job.bits_before:.3f}", now=f"{job.bits_now:.3f}"))
        return Phrase("Training voice {name}: {percent}% done, about {seconds} s left{so_far}.",
                      name=job.name, percent=int(job.progress * 100),
                      seconds=round(budget_seconds or 0 if job.seconds_left is None else job.seconds_left),
                      so_far=so_far)
    if job.state == "done":
        return Phrase("Voice {name} is ready: your text's validation loss went from {before} to {after} "
                      "bits/char. Write with it: /shakespeare model:{name}.", name=job.name,
                      before=f"{job.bits_before:.3f}", after=f"{job.bits_now:.3f}")
    if job.state == "cancelled":
        return Phrase("Voice {name} was cancelled.", name=job.name)
    return Phrase("Voice {name} was not made: {reason}.", name=job.name, reason=job.reason or "unknown")


def describe_voice(voice: Voice) -> Phrase:
    return Phrase("- **{name}** (from {base}): {before} -> {after} bits/char on its text", name=voice.name,
                  base=voice.base, before=f"{voice.bits_before:.3f}", after=f"{voice.bits_after:.3f}")


@app_commands.allowed_installs(guilds=True, users=False)
@app_commands.allowed_contexts(guilds=True, dms=False, private_channels=False)
class VoiceGroup(app_commands.Group, name="voice",
                 description="This server's own voices: train one on a text, list, cancel, delete.",
                 default_permissions=discord.Permissions(manage_guild=True)):
    async def interaction_check(self, interaction: discord.Interaction[ShakespeareBot], /) -> bool:
        return check_server_manager(interaction, UserError(MANAGERS_ONLY))

    @app_commands.command(name="train", description="Teach the bot this server's style from a text file.")
    @app_commands.describe(file="A UTF-8 text file, at least 10,000 characters, at most 2 MB",
                           name="What to call the voice (letters, digits, - or _)",
                           base="The model it starts from (default lstm)")
    @app_commands.autocomplete(base=model_autocomplete)
    async def train(self, interaction: discord.Interaction[ShakespeareBot], file: discord.Attachment,
                    name: app_commands.Range[str, 1, MAX_NAME_LENGTH],
                    base: app_commands.Range[str, 1, 32] = "lstm") -> None:
        bot = interaction.client
        shipped = bot.engine.model_names
        chosen_base = require_loaded(base, shipped)
        voice = check_name(name, set(shipped))
        source = check_source(file.url, bot.config.cdn_url)
        check_size(file.size)
        guild_id = interaction.guild_id
        assert guild_id is not None  # allowed in servers only
        # Everything that can refuse without the file is asked before it is fetched: one upload per
        # server at a time, the server's pace, then (after the acknowledgement) its voices and jobs.
        if guild_id in bot.uploading:
            raise UserError(ONE_UPLOAD)
        try:
            bot.upload_pace.take(guild_id)
        except app_commands.CommandOnCooldown as pace:
            raise UserError(Phrase("This server has uploaded texts too often; try again in {seconds} s.",
                                   seconds=math.ceil(pace.retry_after))) from None
        bot.uploading.add(guild_id)
        try:
            await interaction.response.defer(ephemeral=True, thinking=True)
            await check_room(bot, guild_id, voice, interaction.user.id)
            data = await download(source, file.size)
            # Decoding and checking 2 MB takes CPU for a good part of a second: off the event loop.
            text = await asyncio.to_thread(lambda: check_text(decode_text(data)))
            job = await ask_book(bot.voices.enqueue, guild_id, voice, chosen_base,
                                          interaction.user.id, text, set(shipped))
        finally:
            bot.uploading.discard(guild_id)
        await bot.start_trainer()
        position = await ask_book(bot.voices.position, job)
        await reply_privately(interaction, describe_job(job, position, bot.config.voice_train_seconds))
        bot.follow_job(follow_progress(interaction, job.id))

    @app_commands.command(name="list", description="This server's voices and how well each learned.")
    async def list(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        bot = interaction.client
        voices = await ask_book(bot.voices.voices, interaction.guild_id)
        if not voices:
            await reply_privately(interaction,
                                  Phrase("This server has no voices yet; /voice train makes one."))
            return
        lines = [localize(Phrase("This server's voices ({count} of {most}):", count=len(voices),
                                 most=MAX_VOICES_PER_SERVER), interaction.locale)]
        lines += [localize(describe_voice(voice), interaction.locale) for voice in voices]
        await interaction.response.send_message("\n".join(lines), ephemeral=True)

    @app_commands.command(name="status", description="How this server's latest voice training is going.")
    async def status(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        bot = interaction.client
        await interaction.response.defer(ephemeral=True, thinking=True)  # the picture takes a moment
        job = await ask_book(bot.voices.latest_job, interaction.guild_id)
        if job is None:
            await reply_privately(interaction, Phrase("No voice has been trained on this server yet."))
            return
        position = await ask_book(bot.voices.position, job) if job.state == "queued" else None
        budget = bot.config.voice_train_seconds
        shown = await progress_reply(bot, job, describe_job(job, position, budget), interaction.locale)
        await interaction.edit_original_response(content=shown.content, attachments=shown.files)

    @app_commands.command(name="cancel", description="Stop this server's voice training.")
    async def cancel(self, interaction: discord.Interaction[ShakespeareBot]) -> None:
        job = await ask_book(interaction.client.voices.cancel, interaction.guild_id)
        if job is None:
            raise UserError(Phrase("No voice is training on this server."))
        await reply_privately(interaction, Phrase("Voice {name} was cancelled.", name=job.name))

    @app_commands.command(name="delete", description="Delete one of this server's voices.")
    @app_commands.describe(name="The voice to delete")
    async def delete(self, interaction: discord.Interaction[ShakespeareBot],
                     name: app_commands.Range[str, 1, MAX_NAME_LENGTH]) -> None:
        bot = interaction.client
        voice = check_name(name)  # the book checks it too; refused here before the database is asked
        if not await ask_book(bot.voices.delete_voice, interaction.guild_id, voice):
            raise UserError(Phrase("This server has no voice named {name}; /voice list shows its voices.",
                                   name=voice))
        bot.voice_cache.forget(interaction.guild_id, voice)
        await reply_privately(interaction, Phrase("Voice {name} is deleted.", name=voice))


async def check_room(bot: ShakespeareBot, guild_id: int, voice: str, requester_id: int) -> None:
    """Refuse, before any download, what the voice book would refuse when queueing: the name taken,
    the server's voices, a job already training, the server's and the person's daily jobs, a full
    queue (the book's own check, asked again as it queues)."""
    await ask_book(bot.voices.check_room, guild_id, voice, requester_id)


async def follow_progress(interaction: discord.Interaction[ShakespeareBot], job_id: int) -> None:
    """Edit the admin's private reply as the job goes, until it ends or the token is about to: the
    sentence, the newest picture of the training in place of the last, and a sample at the end."""
    bot = interaction.client
    budget = bot.config.voice_train_seconds
    shown = None
    while (discord.utils.utcnow() - interaction.created_at).total_seconds() < TOKEN_SECONDS:
        await asyncio.sleep(PROGRESS_SECONDS)
        job = await ask_book(bot.voices.job, job_id)
        if job is None:
            return
        position = await ask_book(bot.voices.position, job) if job.state == "queued" else None
        sample = await voice_sample(bot, job) if job.state == "done" else None
        sentence = describe_job(job, position, budget)
        reply = await progress_reply(bot, job, sentence, interaction.locale, sample)
        if (reply.content, reply.points) != shown:
            try:
                await interaction.edit_original_response(content=reply.content, attachments=reply.files)
            except discord.HTTPException as error:
                log.info("Stopped following voice job %s: %s", job_id, error)
                return
            shown = (reply.content, reply.points)
        if not job.live:
            return



async def choose_model(interaction: discord.Interaction[ShakespeareBot], asked: object = None,
                       setting: str | None = None) -> Chosen:
    """The model a request names (`asked`: a shipped model or one of the server's voices, typed in
    any case), else the one its settings name (`setting`; a voice since deleted, or a model this
    host does not load, is replaced by the default model, with one log line)."""
    bot = interaction.client
    loaded = bot.engine.model_names
    if asked is not None:
        if not isinstance(asked, str):  # only a forged interaction sends anything else
            raise UserError(BAD_OPTION)
        typed = asked.strip()
        if typed.casefold() in {name.casefold() for name in loaded}:
            return shipped(require_loaded(typed, loaded))
        voice = voice_name(typed.lower()) or typed.lower()
        if in_server_with_bot(interaction) and NAME.fullmatch(voice):
            try:
                return await bot.voice_cache.choose(interaction.guild_id, voice)
            except VoiceError:
                if not await server_voices(interaction):
                    require_loaded(typed, loaded)  # no voices here: the sentence names the models
                shown = typed if len(typed) <= 32 else typed[:29] + "..."
                raise UserError(Phrase("The {model} model is not loaded on this bot and this server has no "
                                       "voice of that name; choose {choices} or a voice from /voice list.",
                                       model=shown, choices=tuple(loaded))) from None
        require_loaded(typed, loaded)  # raises: the sentence names the models to choose from
    wanted = setting or DEFAULT_SETTINGS.model
    voice = voice_name(wanted)
    if voice is not None and in_server_with_bot(interaction):
        try:
            return await bot.voice_cache.choose(interaction.guild_id, voice)
        except VoiceError:
            pass
    chosen = serving_model(wanted, loaded)
    if chosen != wanted and wanted not in bot.replaced_models_logged:
        bot.replaced_models_logged.add(wanted)
        log.warning("Model %r from settings is not loaded here; %r writes instead.", wanted, chosen)
    return shipped(chosen)


async def choose_stored(interaction: discord.Interaction[ShakespeareBot], stored: str) -> Chosen:
    """The model a reply's buttons write with: its own voice (one sentence if since deleted), or
    its shipped model (another when this host does not load it)."""
    voice = voice_name(stored)
    if voice is None:
        return shipped(serving_model(stored, interaction.client.engine.model_names))
    if not in_server_with_bot(interaction):
        raise VoiceError(Phrase("This server has no voice named {name}; /voice list shows its voices.",
                                name=voice))
    return await interaction.client.voice_cache.choose(interaction.guild_id, voice)


async def server_voices(interaction: discord.Interaction[ShakespeareBot]) -> list[str]:
    if not in_server_with_bot(interaction):
        return []
    voices = await ask_book(interaction.client.voices.voices, interaction.guild_id)
    return [voice.name for voice in voices]


async def voice_autocomplete(interaction: discord.Interaction[ShakespeareBot],
                             current: str) -> list[app_commands.Choice[str]]:
    """This server's voices: none when the database does not answer within the margin (an
    autocomplete cannot wait: bot/commands/acknowledge.py) or fails."""
    needle = current[:MAX_CHOICE_LENGTH].strip().casefold()
    voices = await within_margin(interaction, server_voices(interaction), [])
    names = [name for name in voices if needle in name]
    return [app_commands.Choice(name=name, value=name) for name in names[:MAX_CHOICES]]


async def model_or_voice_autocomplete(interaction: discord.Interaction[ShakespeareBot],
                                      current: str) -> list[app_commands.Choice[str]]:
    """The loaded models, then this server's voices (no command sync: both change while running);
    the models alone when the database is slow or away."""
    shipped_choices = await model_autocomplete(interaction, current)
    voices = await voice_autocomplete(interaction, current)
    return [*shipped_choices, *(app_commands.Choice(name=localize(Phrase("voice {name}", name=choice.value),
                                                                  interaction.locale), value=choice.value)
                                for choice in voices)][:MAX_CHOICES]


@app_commands.check(settings_pace_check)
@app_commands.command(name="voice", description="Make one of this server's voices its default.")
@app_commands.describe(name="A voice from /voice list")
@app_commands.autocomplete(name=voice_autocomplete)
async def settings_voice(interaction: discord.Interaction[ShakespeareBot],
                         name: app_commands.Range[str, 1, MAX_NAME_LENGTH]) -> None:
    """/settings voice: added to /settings (whose check guards it) by bot/commands/__init__.py."""
    from bot.commands.settings import write_then_confirm

    bot = interaction.client
    voice = check_name(name)  # the book checks it too; refused here before the database is asked
    if await ask_book(bot.voices.voice, interaction.guild_id, voice) is None:
        raise UserError(Phrase("This server has no voice named {name}; /voice list shows its voices.",
                               name=voice))
    change = bot.store.set_value(interaction.guild_id, "model", voice_model(voice))
    said = Phrase("Voice {name} now writes by default on this server.", name=voice)
    await write_then_confirm(interaction, change, lambda _: said)
