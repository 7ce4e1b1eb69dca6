"""What /voice train's progress reply and /voice status show of a job: its sentence, the picture of
its training (bot/voices/progress_picture.py, drawn on the picture thread), and, once the voice
is ready, a short sample written in it.

Every edit of the progress reply carries the newest picture as its only attachment (an edit with
attachments=[file] replaces the last one, so pictures never pile up). A picture that cannot be
drawn leaves the sentence alone, logged once; a sample that cannot be written is left out, logged.
"""

from __future__ import annotations

import io
import logging
from dataclasses import dataclass
from typing import TYPE_CHECKING

import discord

from bot.commands.formatting import neutralise_code
from bot.i18n import Phrase, language, localize
from bot.storage.voices import Job
from bot.voices.progress_picture import PROGRESS_FILE, progress_png
from charlm.engine import GenerationRequest

if TYPE_CHECKING:
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

SAMPLE_SEED = "\n"  # a voice's text may not be a play: the sample starts from a new line
SAMPLE_LENGTH = 200
CURVE_EXPLAINED = Phrase("In the picture: the line is the training loss in bits per character over the time "
                         "budget; the hollow circle is the loss on held-out text before training, the "
                         "filled one after.")


@dataclass(frozen=True)
class ProgressReply:
    content: str
    png: bytes | None
    points: int  # how many training losses the picture's line has

    @property
    def files(self) -> list[discord.File]:
        if self.png is None:
            return []
        return [discord.File(io.BytesIO(self.png), filename=PROGRESS_FILE)]


async def progress_reply(bot: ShakespeareBot, job: Job, sentence: Phrase, locale: object,
                         sample: str | None = None) -> ProgressReply:
    """The job's sentence (localized), its picture, and `sample` (the finished voice's) if given."""
    budget = bot.config.voice_train_seconds
    points = bot.training_curves.read(job, budget)
    words = language(locale) == "en"
    png = None
    try:
        png = await bot.pictures.draw(progress_png, job, points, budget, words)
    except Exception as error:  # the sentence still goes out
        bot.pictures.failed("training", error)
    lines = [localize(sentence, locale)]
    if png is not None and not words:
        lines.append(localize(CURVE_EXPLAINED, locale))
    if sample:
        lines += [localize(Phrase("A sample in voice {name}:", name=job.name), locale),
                  f"```\n{neutralise_code(sample)}\n```"]
    return ProgressReply("\n".join(lines), png, len(points))


async def voice_sample(bot: ShakespeareBot, job: Job) -> str | None:
    """SAMPLE_LENGTH characters written in the job's new voice, or None (logged) if it cannot write."""
    try:
        chosen = await bot.voice_cache.choose(job.guild_id, job.name)
        return await bot.voice_cache.generate(GenerationRequest(seed=SAMPLE_SEED, model=chosen.engine_key,
                                                                length=SAMPLE_LENGTH))
    except Exception as error:  # deleted meanwhile, the engine busy or closing: the figures still go out
        log.warning("No sample of voice %r for its progress reply: %s", job.name, error)
        return None
