"""Continuous batching for one model: streams join and leave a running batch between steps.

Runs only on the engine's worker thread. Every stream is one row of the stepper's buffers; row
`i` of the tensors below belongs to the same stream. Streams are kept packed in rows `[0, n)`:
a finished stream's row is refilled with the last row's stream, so a step works on a prefix.

Timeline of a stream admitted at step `t0` with seed ids s[0..S-1] and `length` L:
    steps t0 .. t0+S-2    priming: the input is s[i] and the next input is forced to s[i+1]
    steps t0+S-1 .. +L-1  generation: each step samples the next character from its logits
so each stream primes its own seed, one character per step, inside the batch: seeds of any length
share a batch without padding. A seed longer than PRIME_AT_ONCE is instead read, all but its last
character, by one call of the trained module when the stream is admitted (its state then loaded
into the stream's row), so S above is 1 for it.

Per-stream data that depends on the step (the forced seed ids, the uniform numbers that drive
sampling, the sampled ids) lives in ring buffers `[ring_length, rows]` indexed by
`step % ring_length`; a step reads and writes one contiguous line of them, so no per-stream Python
work happens inside a step.
"""

from __future__ import annotations

import asyncio
import hashlib
from array import array
from collections import OrderedDict
from dataclasses import dataclass

import torch

from charlm.alphabet import Alphabet
from charlm.engine.steppers import Stepper
from charlm.sampling import pick

# Seeds longer than this are read in one whole-sequence call of the trained module (Stepper.prime)
# rather than one batch step per character: a Continue primed with 300 characters of text so far
# otherwise took twice as long as writing them (bench/replies_speed.py).
PRIME_AT_ONCE = 16
# The states finished streams ended in, by the text they had read: a request whose seed is such a
# text plus one character (what the bot's Continue sends: the text so far) starts from that state
# with no priming at all. A cache only: a miss primes as above. About 8 KB each for the shipped LSTM.
KEPT_STATES = 256


@dataclass(eq=False)
class Job:
    """One accepted request, as the worker thread sees it."""

    model: str
    seed_ids: list[int]
    temperature: float
    length: int
    top_k: int | None
    rng_seed: int | None
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future


@dataclass(eq=False)
class _Stream:
    job: Job
    row: int
    first_output_step: int
    top_k: int | None
    active: bool = True


class ModelBatch:
    """The running streams of one model and their per-stream sampling state."""

    def __init__(self, stepper: Stepper, alphabet: Alphabet, max_streams: int, ring_length: int,
                 device: torch.device) -> None:
        self.stepper = stepper
        self.alphabet = alphabet
        self.max_streams = max_streams
        self.ring_length = ring_length
        self.device = device
        rows = stepper.capacity
        self.ids = torch.zeros(rows, dtype=torch.int64, device=device)
        self.temperature = torch.ones(rows, 1, device=device)
        self.top_k_index = torch.zeros(rows, 1, dtype=torch.int64, device=device)
        self.no_top_k = torch.ones(rows, 1, dtype=torch.bool, device=device)
        self.uniforms = torch.zeros(ring_length, rows, device=device)
        self.forced = torch.full((ring_length, rows), -1, dtype=torch.int64, device=device)
        self.produced = torch.zeros(ring_length, rows, dtype=torch.int64, device=device)
        self.streams: list[_Stream] = []
        self.finishing: dict[int, list[_Stream]] = {}
        self.clock = 0
        self.priming_until = 0
        self.max_top_k = 0
        self.kept_states: OrderedDict[bytes, tuple[torch.Tensor, ...]] = OrderedDict()

    @property
    def free_rows(self) -> int:
        return self.max_streams - len(self.streams)

    def _columns(self, start: int, count: int) -> torch.Tensor:
        return torch.arange(start, start + count, device=self.device) % self.ring_length

    def admit(self, job: Job) -> None:
        """Give `job` the next free row, starting at the all-zero state with its first seed id; a
        seed of PRIME_AT_ONCE characters or more is read in one call of the module instead, all
        but its last character, which the first step then reads."""
        row = len(self.streams)
        self.stepper.clear_row(row)
        kept = self.kept_states.get(_text_key(job.seed_ids[:-1])) if len(job.seed_ids) > 1 else None
        if kept is not None:
            self.kept_states.move_to_end(_text_key(job.seed_ids[:-1]))
            self.stepper.load_row(row, kept)
            seed_ids = job.seed_ids[-1:]
        elif len(job.seed_ids) > PRIME_AT_ONCE:
            self.stepper.prime(row, job.seed_ids[:-1])
            seed_ids = job.seed_ids[-1:]
        else:
            seed_ids = job.seed_ids
        priming = len(seed_ids) - 1
        self.ids[row] = seed_ids[0]
        self.forced[:, row].fill_(-1)
        if priming:
            self.forced[self._columns(self.clock, priming), row] = torch.tensor(
                seed_ids[1:], dtype=torch.int64, device=self.device)
            self.priming_until = max(self.priming_until, self.clock + priming)
        # The stream's own generator draws all its uniform numbers up front: its text depends on
        # its rng_seed alone, never on which streams it shares the batch with.
        generator = torch.Generator()
        if job.rng_seed is None:
            generator.seed()
        else:
            generator.manual_seed(job.rng_seed)
        draws = torch.rand(job.length, generator=generator)
        self.uniforms[self._columns(self.clock + priming, job.length), row] = draws.to(self.device)
        self.temperature[row] = job.temperature
        top_k = job.top_k if job.top_k is not None and job.top_k < self.stepper.vocab_size else None
        self.top_k_index[row] = (top_k or 1) - 1
        self.no_top_k[row] = top_k is None
        stream = _Stream(job, row, self.clock + priming, top_k)
        self.streams.append(stream)
        self.finishing.setdefault(self.clock + priming + job.length, []).append(stream)
        self._update_top_k()

    def remove(self, job: Job) -> None:
        """Drop a cancelled job's stream, if it is still running."""
        for stream in self.streams:
            if stream.job is job:
                self._release(stream)
                return

    def step(self) -> list[tuple[Job, str]]:
        """Advance every stream by one character; returns the jobs that finished, with their text."""
        rows = max(len(self.streams), self.stepper.min_rows)
        column = self.clock % self.ring_length
        logits = self.stepper.step(self.ids[:rows], rows)
        logits.div_(self.temperature[:rows])
        if self.max_top_k:
            # The same rule as charlm.sampling.next_token_probabilities, with a k per row.
            kth = torch.topk(logits, self.max_top_k, dim=-1).values.gather(1, self.top_k_index[:rows])
            kth.masked_fill_(self.no_top_k[:rows], float("-inf"))
            logits.masked_fill_(logits < kth, float("-inf"))
        sampled = pick(torch.softmax(logits, dim=-1), self.uniforms[column, :rows])
        self.produced[column, :rows] = sampled
        if self.clock < self.priming_until:
            forced = self.forced[column, :rows]
            sampled = torch.where(forced >= 0, forced, sampled)
        self.ids[:rows] = sampled
        self.clock += 1
        finished = [stream for stream in self.finishing.pop(self.clock, ()) if stream.active]
        results = []
        for stream in finished:
            ids = self._produced_ids(stream)
            results.append((stream.job, self.alphabet.decode(ids)))
            # The row has read the seed and all but the last character written (that one would be
            # the next input): keep its state under that text, for a request that continues it.
            self._keep_state(stream.job.seed_ids + ids[:-1], self.stepper.save_row(stream.row))
        for stream in finished:
            self._release(stream)
        return results

    def _keep_state(self, ids: list[int], state: tuple[torch.Tensor, ...]) -> None:
        key = _text_key(ids)
        self.kept_states[key] = state
        self.kept_states.move_to_end(key)
        while len(self.kept_states) > KEPT_STATES:
            self.kept_states.popitem(last=False)

    def _produced_ids(self, stream: _Stream) -> list[int]:
        length = stream.job.length
        start = stream.first_output_step % self.ring_length
        ring = self.produced[:, stream.row]
        if start + length <= self.ring_length:
            ids = ring[start:start + length]
        else:
            ids = torch.cat([ring[start:], ring[:start + length - self.ring_length]])
        return ids.tolist()

    def _release(self, stream: _Stream) -> None:
        """Free the stream's row by moving the last stream into it, keeping rows packed."""
        row, last = stream.row, len(self.streams) - 1
        if row != last:
            moved = self.streams[last]
            self.stepper.move_row(last, row)
            for buffer in (self.ids, self.temperature, self.top_k_index, self.no_top_k):
                buffer[row] = buffer[last]
            for ring in (self.uniforms, self.forced, self.produced):
                ring[:, row] = ring[:, last]
            self.streams[row] = moved
            moved.row = row
        self.streams.pop()
        stream.active = False
        # An idle row may still be computed (Stepper.min_rows); it must not ask for a top-k threshold.
        self.top_k_index[last] = 0
        self.no_top_k[last] = True
        self._update_top_k()

    def _update_top_k(self) -> None:
        self.max_top_k = max((stream.top_k for stream in self.streams if stream.top_k), default=0)

    def clear(self) -> list[Job]:
        """Forget every stream (after a failure or at shutdown); returns their jobs."""
        jobs = [stream.job for stream in self.streams]
        for stream in self.streams:
            stream.active = False
        self.streams.clear()
        self.finishing.clear()
        self.no_top_k.fill_(True)
        self.top_k_index.zero_()
        self.max_top_k = 0
        return jobs


def _text_key(ids: list[int]) -> bytes:
    return hashlib.blake2b(array("q", ids).tobytes(), digest_size=16).digest()
