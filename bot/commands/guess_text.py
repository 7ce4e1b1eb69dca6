"""What /guess shows: the round's message (open and revealed), its two buttons' labels, the scores
and the "fooled" figures; every sentence a Phrase, said in the reader's language.

The passage sits in a code block nothing can break out of (bot/commands/formatting.py); mentions
in the scores are shown as names but ping nobody (every message goes with allowed mentions off).
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from bot.commands.formatting import neutralise_code
from bot.i18n import Phrase, localize
from bot.storage.games import Choice, Fooled, GuessRecord, Revealed, Score
from charlm.guess import fooled_share

if TYPE_CHECKING:
    from bot.config import BotConfig
    from bot.runtime.client import ShakespeareBot

log = logging.getLogger(__name__)

FOOLED_MINIMUM = 20  # votes on a model's passages before its share is shown
FOOLED_READ_SECONDS = 1.0

LABELS: dict[Choice, Phrase] = {"shakespeare": Phrase("Shakespeare"), "bot": Phrase("The bot")}
TITLE = Phrase("**Shakespeare or the bot?** The first line is Shakespeare's; is the rest? "
               "The answer comes {when}.")
VOTES = Phrase("Votes so far: {count}")
WAS_SHAKESPEARE = Phrase("**It was Shakespeare.**")
WAS_BOT = Phrase("**It was the bot: {model}.**")
SPLIT = Phrase("Shakespeare: {shakespeare}, the bot: {bot}; {right} of {total} right.")
NO_VOTES = Phrase("Nobody voted.")
SOLO = Phrase("You guess alone here: the answer comes with your vote.")
TOP = Phrase("**Best guessers here**")
NOBODY_YET = Phrase("Nobody has guessed here yet; start a round with /guess play.")
SCORE_LINE = Phrase("{rank}. {who}: {points} points (streak {streak}, best {best})")
YOU = Phrase("You: number {rank}, {points} points, streak {streak}.")
NOT_YET = Phrase("You have not guessed here yet.")
FOOLED_TITLE = Phrase("How often each model fools people (votes for Shakespeare on its passages):")
FOOLED_LINE = Phrase("- **{model}**: {share}% of {votes} votes")
FOOLED_TOO_FEW = Phrase("- **{model}**: {votes} votes so far ({least} needed)")


def when(timestamp: float) -> str:
    return f"<t:{int(timestamp)}:R>"


def passage_block(text: str) -> str:
    return f"```\n{neutralise_code(text)}\n```"


def round_text(record: GuessRecord, votes: int, locale: object, *, solo: bool = False) -> str:
    lines = [localize(Phrase(TITLE.template, when=when(record.reveal_at)), locale),
             passage_block(record.text or "")]
    lines.append(localize(SOLO if solo else Phrase(VOTES.template, count=votes), locale))
    return "\n".join(lines)


def revealed_text(revealed: Revealed, locale: object) -> str:
    record = revealed.round
    answer = WAS_SHAKESPEARE if record.kind == "real" else Phrase(WAS_BOT.template, model=record.model)
    total = revealed.shakespeare + revealed.bot
    split = (Phrase(SPLIT.template, shakespeare=revealed.shakespeare, bot=revealed.bot, right=revealed.right,
                    total=total) if total else NO_VOTES)
    return "\n".join([localize(answer, locale), passage_block(record.text or ""), localize(split, locale)])


def answer_of(record: GuessRecord) -> Phrase:
    return WAS_SHAKESPEARE if record.kind == "real" else Phrase(WAS_BOT.template, model=record.model)


def scores_text(best: list[Score], own: Score | None, rank: int, locale: object) -> str:
    if not best:
        return localize(NOBODY_YET, locale)
    lines = [localize(TOP, locale)]
    lines += [localize(Phrase(SCORE_LINE.template, rank=number, who=f"<@{score.user_id}>",
                              points=score.points, streak=score.streak, best=score.best_streak), locale)
              for number, score in enumerate(best, 1)]
    lines.append(localize(NOT_YET if own is None else Phrase(YOU.template, rank=rank, points=own.points,
                                                             streak=own.streak), locale))
    return "\n".join(lines)


def fooled_lines(tallies: list[Fooled], models: Sequence[str], locale: object, *,
                 minimum: int = FOOLED_MINIMUM, all_models: bool = True) -> list[str]:
    """One line per model in `models`; with `all_models` False only those with `minimum` votes
    (and no lines at all when none has)."""
    by_model = {tally.model: tally for tally in tallies}
    lines = []
    for model in models:
        tally = by_model.get(model, Fooled(model, 0, 0))
        share = fooled_share(tally.shakespeare, tally.votes, minimum)
        if share is None and all_models:
            lines.append(Phrase(FOOLED_TOO_FEW.template, model=model, votes=tally.votes, least=minimum))
        elif share is not None:
            lines.append(Phrase(FOOLED_LINE.template, model=model, share=f"{100 * share:.0f}",
                                votes=tally.votes))
    return [localize(line, locale) for line in ([FOOLED_TITLE, *lines] if lines else [])]


async def fooled_figures(bot: ShakespeareBot, locale: object) -> list[str]:
    """/about's lines: the loaded models' figures once they have FOOLED_MINIMUM votes. /about
    answers at once: a database slower than FOOLED_READ_SECONDS, or away, leaves them out."""
    try:
        tallies = await asyncio.wait_for(bot.store.games.fooled(), FOOLED_READ_SECONDS)
    except Exception as error:
        log.info("/about without the /guess figures: %s", error or type(error).__name__)
        return []
    return fooled_lines(tallies, bot.engine.model_names, locale, all_models=False)


async def print_stats(config: BotConfig) -> int:
    """`python -m bot stats`: every shipped model's /guess figure (the checkpoints in
    CHECKPOINT_DIR), from the bot's database; 1 with one sentence when it cannot be read."""
    from bot.errors import SettingsStoreError
    from bot.storage import open_store

    models = sorted(path.stem for path in config.checkpoint_dir.glob("*.safetensors"))
    try:
        store = await open_store(config)
    except SettingsStoreError as error:
        print(f"bot: {error}", file=sys.stderr)
        return 1
    try:
        tallies = await store.games.fooled()
    except SettingsStoreError as error:
        print(f"bot: {error}", file=sys.stderr)
        return 1
    finally:
        await store.close()
    print("\n".join(fooled_lines(tallies, models, "en")))
    return 0
