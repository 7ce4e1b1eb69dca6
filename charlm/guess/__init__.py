"""/guess, "Shakespeare or the bot?": passages that open with a real held-out line and go on with
either the real text or a model's, laid out alike (passages.py); the shipped held-out text
(corpus.py); a checkpoint as a synchronous model (sampled.py)."""

from charlm.guess.corpus import held_out_part, load_held_out, shipped_openings
from charlm.guess.passages import (
    GENERATION_LENGTH,
    MAX_LENGTH,
    MIN_LENGTH,
    TARGET_LENGTH,
    GuessRound,
    Opening,
    PassageError,
    RoundPlan,
    build_passage,
    draw_round,
    draw_round_async,
    find_openings,
    finish_round,
    fooled_share,
    plan_round,
)
from charlm.guess.sampled import SampledContinuation

__all__ = ["GENERATION_LENGTH", "MAX_LENGTH", "MIN_LENGTH", "TARGET_LENGTH", "GuessRound", "Opening",
           "PassageError", "RoundPlan", "SampledContinuation", "build_passage", "draw_round",
           "draw_round_async", "find_openings", "finish_round", "fooled_share", "held_out_part",
           "load_held_out", "plan_round", "shipped_openings"]
