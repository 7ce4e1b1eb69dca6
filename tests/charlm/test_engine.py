"""The generation engine: batching that does not change anyone's text, backpressure, lifecycle."""

from __future__ import annotations

import asyncio
import math
import threading
import time

import pytest
import torch

from charlm.alphabet import Alphabet
from charlm.checkpoint import LoadedModel
from charlm.devices import cpu_has_int8_dot, cpu_has_native_bf16
from charlm.engine import (
    MAX_GENERATE_LENGTH,
    MAX_SEED_LENGTH,
    EngineBusyError,
    EngineClosedError,
    EngineError,
    GenerationEngine,
    GenerationRequest,
    InvalidRequestError,
    ModelInfo,
)
from charlm.engine.steppers import build_stepper, int8_works
from charlm.errors import CharLMError, CheckpointError
from charlm.models import ModelConfig, ScratchRNN
from tests.helpers import tiny_checkpoint, tiny_model

ALPHABET = Alphabet()
# Every precision the engine can run here: float32, bf16 where the CPU multiplies it natively, int8
# products where torch._int_mm runs on this CPU, and whichever of them "auto" picks.
INT8 = pytest.mark.skipif(not int8_works(torch.device("cpu")), reason="torch._int_mm does not run here")
PRECISIONS = ("float32",
              pytest.param("bfloat16", marks=pytest.mark.skipif(not cpu_has_native_bf16(),
                                                                reason="no native bf16")),
              pytest.param("int8", marks=INT8), "auto")


def loaded(kind: str = "lstm", hidden_size: int = 32, num_layers: int = 2, seed: int = 0) -> LoadedModel:
    model = tiny_model(kind, hidden_size=hidden_size, num_layers=num_layers, seed=seed)
    return LoadedModel(model=model, alphabet=ALPHABET, config=model.config)


def engine_for(**options: object) -> GenerationEngine:
    return GenerationEngine({"lstm": loaded("lstm"), "gru": loaded("gru", seed=1)}, **options)


def engine_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "charlm-engine"]


class Gate:
    """A scratch model whose every step waits for the test to open the gate, and counts its steps.

    It lets a test hold the worker thread inside a step, so 'running' and 'waiting' are states the
    test controls instead of timing it hopes for."""

    def __init__(self) -> None:
        self.open = threading.Event()
        self.entered = threading.Event()
        self.steps = 0
        gate = self

        class GatedScratch(ScratchRNN):
            def forward(self, ids, state=None):
                gate.entered.set()
                gate.open.wait(timeout=10)
                gate.steps += 1
                return super().forward(ids, state)

        config = ModelConfig("scratch", len(ALPHABET), 32)
        torch.manual_seed(0)
        model = GatedScratch(config).eval()
        self.model = LoadedModel(model=model, alphabet=ALPHABET, config=config)

    async def wait_entered(self) -> None:
        assert await asyncio.to_thread(self.entered.wait, 10), "the worker never started a step"


def request(seed: str = "ROMEO:", model: str = "lstm", **options: object) -> GenerationRequest:
    return GenerationRequest(seed=seed, model=model, **{"length": 40, "rng_seed": 1, **options})


# The per-step path ----------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("num_layers", [1, 3])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, pytest.param(torch.int8, marks=INT8)])
def test_step_path_gives_the_nn_modules_logits(kind: str, num_layers: int, dtype: torch.dtype) -> None:
    model = tiny_model(kind, hidden_size=64, num_layers=num_layers)
    ids = torch.randint(0, len(ALPHABET), (3, 25), generator=torch.Generator().manual_seed(0))
    stepper = build_stepper(model, 8, torch.device("cpu"), dtype)
    with torch.inference_mode():
        expected, _ = model(ids, None)
        for row in range(3):
            stepper.clear_row(row)
        got = torch.stack([stepper.step(ids[:, t].contiguous(), 3).clone() for t in range(25)], dim=1)
    # bf16 rounds the operands of the recurrent products (about 3 significant digits); int8 rounds
    # weights to 1/254 of their row's largest and h to 1/127 (errors of about 2e-3 here).
    tolerance = {torch.float32: 1e-5, torch.bfloat16: 5e-3, torch.int8: 6e-3}[dtype]
    torch.testing.assert_close(got, expected, atol=tolerance, rtol=tolerance)


@pytest.mark.parametrize("kind", ["scratch", "rnn", "lstm", "gru"])
@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16, pytest.param(torch.int8, marks=INT8)])
def test_priming_a_row_in_one_call_reaches_the_state_stepping_reaches(kind: str, dtype: torch.dtype) -> None:
    # A long seed is read by one whole-sequence call of the module (Stepper.prime); the next step's
    # logits must be those of stepping through the seed, within the precision's rounding.
    model = tiny_model(kind, hidden_size=64, num_layers=1 if kind == "scratch" else 2)
    ids = torch.randint(0, len(ALPHABET), (40,), generator=torch.Generator().manual_seed(1)).tolist()
    stepped = build_stepper(model, 8, torch.device("cpu"), dtype)
    primed = build_stepper(model, 8, torch.device("cpu"), dtype)
    with torch.inference_mode():
        for row in (0, 1, 2):
            stepped.clear_row(row)
            primed.clear_row(row)
        for token in ids[:-1]:
            stepped.step(torch.tensor([token] * 3), 3)
        primed.prime(1, ids[:-1])  # the middle row: its neighbours stay at the zero state
        last = torch.tensor([ids[-1]] * 3)
        expected, got = stepped.step(last, 3)[1], primed.step(last, 3)
    tolerance = {torch.float32: 1e-5, torch.bfloat16: 2e-2, torch.int8: 2e-2}[dtype]
    torch.testing.assert_close(got[1], expected, atol=tolerance, rtol=tolerance)
    zero = build_stepper(model, 8, torch.device("cpu"), dtype)
    with torch.inference_mode():
        zero.clear_row(0)
        torch.testing.assert_close(got[0], zero.step(last[:1], 1)[0])  # neighbours untouched


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("dtype", [
    torch.float32,
    # The engine runs bf16 only where the CPU multiplies it natively; elsewhere it is not promised.
    pytest.param(torch.bfloat16,
                 marks=pytest.mark.skipif(not cpu_has_native_bf16(), reason="no native bf16")),
    pytest.param(torch.int8, marks=INT8),
])
@pytest.mark.parametrize("hidden_size", [32, 512])
def test_a_rows_logits_are_bitwise_independent_of_its_neighbours(kind: str, dtype: torch.dtype,
                                                                 hidden_size: int) -> None:
    # The design behind "same text alone or in a batch": a row's arithmetic must not depend on how
    # many rows run, what they hold, or how many threads share the step (the engine runs a narrow
    # step on one thread and a wide one on more). Row 2 of a 64-row batch on two threads is
    # compared, bit for bit, with the same stream in row 0 of the smallest batch the engine
    # computes (min_rows) on one thread, with other neighbours; 512 is the shipped models' width.
    model = tiny_model(kind, hidden_size=hidden_size, num_layers=2)
    generator = torch.Generator().manual_seed(3)
    stream = torch.randint(0, len(ALPHABET), (30,), generator=generator)
    small = build_stepper(model, 64, torch.device("cpu"), dtype)
    large = build_stepper(model, 64, torch.device("cpu"), dtype)
    threads = torch.get_num_threads()
    try:
        with torch.inference_mode():
            for t in range(30):
                small_ids = torch.randint(0, len(ALPHABET), (small.min_rows,), generator=generator)
                large_ids = torch.randint(0, len(ALPHABET), (64,), generator=generator)
                small_ids[0] = large_ids[2] = stream[t]
                torch.set_num_threads(1)
                alone = small.step(small_ids, small.min_rows)[0].clone()
                torch.set_num_threads(2)
                batched = large.step(large_ids, 64)[2]
                assert torch.equal(alone, batched), f"row differs at step {t}"
    finally:
        torch.set_num_threads(threads)


# Batching does not change a request's text ------------------------------------------------------


def mixed_requests(count: int) -> list[GenerationRequest]:
    """Requests that differ in everything a request owns: model, seed length, temperature, top-k,
    length and RNG seed."""
    requests = []
    for i in range(count):
        requests.append(GenerationRequest(
            seed="To be, or not to be"[: 1 + i % 19] if i % 5 else "O" * (40 + i),
            model="gru" if i % 4 == 3 else "lstm",
            temperature=(0.5, 0.8, 1.0, 1.5)[i % 4],
            length=20 + (i * 7) % 45,
            top_k=(None, 1, 5, 20)[i % 4] if i % 3 else None,
            rng_seed=1000 + i))
    return requests


@pytest.mark.parametrize("precision", PRECISIONS)
async def test_a_request_gets_the_same_text_alone_and_in_a_batch_of_64(precision: str) -> None:
    # Not a matter of luck: every request draws its uniform numbers from its own generator, and the
    # arithmetic of a row does not depend on its neighbours (checked bit for bit above), so the
    # logits, the probabilities and every draw are identical alone and batched. Comparing 64
    # requests (about 2,500 draws, two models, mixed seeds, temperatures and top-k) would expose any
    # leak between rows; it cannot pass by chance.
    engine = engine_for(max_batch=64, precision=precision)
    try:
        requests = mixed_requests(64)
        alone = [await engine.generate(one) for one in requests]
        together = await asyncio.gather(*(engine.generate(one) for one in requests))
    finally:
        await engine.aclose()
    assert together == alone
    assert [len(text) for text in alone] == [one.length for one in requests]
    assert len(set(alone)) > 60  # different RNG seeds and options really give different texts


async def test_requests_joining_a_running_batch_get_their_solo_text() -> None:
    # Continuous batching: a request arriving mid-stream joins at the next step, with its own seed
    # length, and a finished stream leaves without disturbing the rest.
    engine = engine_for(max_batch=8)
    try:
        first = [request(seed="A" * (1 + 30 * i), length=30 + 40 * i, rng_seed=i) for i in range(4)]
        late = [request(seed="But soft!"[: 2 + i], rng_seed=50 + i, length=25) for i in range(6)]
        alone = [await engine.generate(one) for one in first + late]
        running = [asyncio.create_task(engine.generate(one)) for one in first]
        await asyncio.sleep(0.01)
        joined = await asyncio.gather(*(engine.generate(one) for one in late))
        assert list(await asyncio.gather(*running)) + list(joined) == alone
    finally:
        await engine.aclose()


async def test_the_same_rng_seed_gives_the_same_text_on_repeated_runs() -> None:
    engine = engine_for()
    try:
        texts = [await engine.generate(request(rng_seed=7, length=80)) for _ in range(3)]
        other = await engine.generate(request(rng_seed=8, length=80))
        unseeded = {await engine.generate(request(rng_seed=None, length=80)) for _ in range(2)}
    finally:
        await engine.aclose()
    assert texts[0] == texts[1] == texts[2]
    assert other != texts[0]
    assert len(unseeded) == 2


@pytest.mark.parametrize("kind", ["rnn", "lstm", "gru"])
@pytest.mark.parametrize("precision", ["float32", pytest.param("int8", marks=INT8)])
async def test_continuing_a_finished_text_resumes_its_exact_state(kind: str, precision: str) -> None:
    # Greedy decoding, so the text depends on the states alone: 40 characters, then 30 more from
    # "seed + those 40" (what the bot's Continue sends), must be exactly 70 characters in one go.
    engine = GenerationEngine({kind: loaded(kind)}, precision=precision if kind != "rnn" else "float32")
    try:
        whole = await engine.generate(request(seed="ROMEO:", model=kind, length=70, top_k=1))
        first = await engine.generate(request(seed="ROMEO:", model=kind, length=40, top_k=1))
        batch = engine._batches[kind]
        primes = []
        original = batch.stepper.prime
        batch.stepper.prime = lambda row, ids: primes.append(ids) or original(row, ids)
        rest = await engine.generate(request(seed="ROMEO:" + first, model=kind, length=30, top_k=1))
    finally:
        await engine.aclose()
    assert first + rest == whole
    assert primes == [], "the kept state was used, nothing was primed"


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("seed", ["ROMEO:", "ROMEO: " + "But soft, what light through yonder window? " * 3])
async def test_top_k_1_follows_the_models_own_forward_greedily(kind: str, seed: str) -> None:
    # top-k 1 puts all probability on the best character, so the engine's text is the model's greedy
    # decode: this checks priming (stepped for a short seed, one call for a long one), the step path
    # and the returned continuation end to end. (A tiny temperature would not do: an untrained
    # model's best logits are nearly tied.)
    source = loaded(kind)
    engine = GenerationEngine({kind: source}, precision="float32")
    try:
        text = await engine.generate(request(seed=seed, model=kind, length=30, top_k=1))
    finally:
        await engine.aclose()
    ids = ALPHABET.encode(seed)
    with torch.inference_mode():
        logits, state = source.model(torch.tensor([ids]), None)
        expected = []
        for _ in range(30):
            expected.append(int(logits[0, -1].argmax()))
            logits, state = source.model(torch.tensor([[expected[-1]]]), state)
    assert text == ALPHABET.decode(expected)


@pytest.mark.parametrize("kind", ["scratch", "rnn", "lstm", "gru"])
async def test_every_model_kind_generates(kind: str) -> None:
    engine = GenerationEngine({kind: loaded(kind, num_layers=1 if kind == "scratch" else 2)})
    try:
        texts = await asyncio.gather(*(engine.generate(request(model=kind, rng_seed=i)) for i in range(5)))
        again = await engine.generate(request(model=kind, rng_seed=3))
    finally:
        await engine.aclose()
    assert all(len(text) == 40 and all(c in ALPHABET for c in text) for text in texts)
    assert again == texts[3]


async def test_the_engine_counts_its_steps_and_the_rows_they_carried() -> None:
    gate = Gate()
    engine = GenerationEngine({"gated": gate.model}, max_batch=8)
    try:
        first = asyncio.create_task(engine.generate(request(model="gated", length=3)))
        await gate.wait_entered()  # the worker holds the first step: the next four queue meanwhile
        rest = [asyncio.create_task(engine.generate(request(model="gated", length=3))) for _ in range(4)]
        await asyncio.sleep(0)
        gate.open.set()
        await asyncio.gather(first, *rest)
    finally:
        gate.open.set()
        await engine.aclose()
    # Every row of a step is one request's next character; the four waiting ones shared steps.
    assert engine.rows_stepped >= 5 * 3
    assert engine.steps < engine.rows_stepped <= 5 * engine.steps


# Backpressure, cancellation and lifecycle ----------------------------------------------------------


async def test_a_full_queue_raises_busy_at_once() -> None:
    gate = Gate()
    engine = GenerationEngine({"gated": gate.model}, max_batch=1, max_waiting=2)
    try:
        running = asyncio.create_task(engine.generate(request(model="gated", length=3)))
        await gate.wait_entered()  # the worker holds it in a step: the one batch row is taken
        waiting = [asyncio.create_task(engine.generate(request(model="gated", length=3))) for _ in range(2)]
        await asyncio.sleep(0)  # let both reach the queue
        assert engine.waiting == 2  # what the bot's queue-depth gauge reads
        started = time.perf_counter()
        with pytest.raises(EngineBusyError, match="busy"):
            await engine.generate(request(model="gated"))
        assert time.perf_counter() - started < 0.5
        gate.open.set()
        assert all(len(text) == 3 for text in await asyncio.gather(running, *waiting))
        assert engine.waiting == 0
    finally:
        gate.open.set()
        await engine.aclose()


async def test_cancelled_and_timed_out_callers_free_their_places() -> None:
    gate = Gate()
    engine = GenerationEngine({"gated": gate.model}, max_batch=1, max_waiting=1)
    try:
        running = asyncio.create_task(engine.generate(request(model="gated", length=MAX_GENERATE_LENGTH)))
        await gate.wait_entered()
        # A caller that times out while queued leaves the queue at once...
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(engine.generate(request(model="gated", length=3)), timeout=0.05)
        queued = asyncio.create_task(engine.generate(request(model="gated", length=3)))
        await asyncio.sleep(0)
        with pytest.raises(EngineBusyError):
            await engine.generate(request(model="gated"))
        # ...and so does one that is cancelled.
        queued.cancel()
        with pytest.raises(asyncio.CancelledError):
            await queued
        after = asyncio.create_task(engine.generate(request(model="gated", length=3)))
        await asyncio.sleep(0)
        # A cancelled running stream leaves the batch at the next step instead of writing its
        # 2,000 characters: the request behind it gets the only row.
        running.cancel()
        with pytest.raises(asyncio.CancelledError):
            await running
        gate.open.set()
        assert len(await asyncio.wait_for(after, timeout=10)) == 3
        assert gate.steps < 100
    finally:
        gate.open.set()
        await engine.aclose()


async def test_every_step_runs_on_the_engines_threads() -> None:
    # With the products packed, every batch width gained from the second core (docs/experiments.md),
    # so the worker runs narrow and wide steps alike on `threads` threads.
    seen: list[tuple[int, int]] = []  # (rows in the step, torch threads during it)

    class Counting(ScratchRNN):
        def forward(self, ids, state=None):
            seen.append((ids.shape[0], torch.get_num_threads()))
            return super().forward(ids, state)

    config = ModelConfig("scratch", len(ALPHABET), 16)
    model = LoadedModel(model=Counting(config).eval(), alphabet=ALPHABET, config=config)
    engine = GenerationEngine({"counting": model}, max_batch=8, threads=2)
    try:
        assert engine.threads == 2
        await engine.generate(request(seed="a", model="counting", length=5))
        await asyncio.gather(*(engine.generate(request(seed="a", model="counting", length=5, rng_seed=i))
                               for i in range(8)))
    finally:
        await engine.aclose()
    assert min(rows for rows, _ in seen) < 8 == max(rows for rows, _ in seen), "narrow and wide steps ran"
    assert {threads for _, threads in seen} == {2}


@pytest.mark.parametrize("options", [{"threads": 0}, {"max_waiting": 0}, {"max_batch": 0}])
def test_engine_options_out_of_range_are_refused(options: dict) -> None:
    with pytest.raises(ValueError, match="at least 1"):
        engine_for(**options)


def test_auto_precision_picks_the_fastest_measured_dtype_this_cpu_runs() -> None:
    engine = engine_for(precision="auto")
    try:
        if cpu_has_int8_dot() and int8_works(torch.device("cpu")):
            expected = "int8"
        else:
            expected = "bfloat16" if cpu_has_native_bf16() else "float32"
        assert engine.precision == expected
    finally:
        engine.close()
    with pytest.raises(ValueError, match="precision must be one of"):
        engine_for(precision="int4")


@pytest.mark.parametrize("closer", ["close", "aclose"])
async def test_close_fails_what_is_in_flight_and_leaves_no_thread(closer: str) -> None:
    before = len(engine_threads())
    engine = engine_for(max_batch=2)
    assert len(engine_threads()) == before + 1
    in_flight = [asyncio.create_task(engine.generate(request(length=MAX_GENERATE_LENGTH, rng_seed=i)))
                 for i in range(4)]
    await asyncio.sleep(0.05)
    if closer == "close":
        engine.close()
    else:
        await engine.aclose()
    assert len(engine_threads()) == before
    for task in in_flight:
        with pytest.raises(EngineClosedError):
            await task
    engine.close()  # idempotent
    await engine.aclose()
    with pytest.raises(EngineClosedError):
        await engine.generate(request())


# Bad requests --------------------------------------------------------------------------------------

BAD_REQUESTS = {
    "temperature 0": {"temperature": 0},
    "temperature -1": {"temperature": -1.0},
    "temperature NaN": {"temperature": math.nan},
    "temperature inf": {"temperature": math.inf},
    "temperature text": {"temperature": "hot"},
    "length 0": {"length": 0},
    "length -5": {"length": -5},
    "length 10**9": {"length": 10**9},
    "length one too many": {"length": MAX_GENERATE_LENGTH + 1},
    "length 2.5": {"length": 2.5},
    "top-k 0": {"top_k": 0},
    "rng_seed -1": {"rng_seed": -1},
    "rng_seed text": {"rng_seed": "lucky"},
    "unknown model": {"model": "transformer"},
    "empty seed": {"seed": ""},
    "seed not text": {"seed": 42},
    "seed too long": {"seed": "a" * (MAX_SEED_LENGTH + 1)},
    # Zero-width joiners, a word joiner, a BOM, a combining accent, NUL: nothing survives normalising.
    "unmappable seed": {"seed": "\u200c\u200d\u2060\ufeff\u0301\x00"},
}


@pytest.mark.parametrize("fields", BAD_REQUESTS.values(), ids=BAD_REQUESTS.keys())
async def test_a_bad_request_gets_one_clear_sentence_before_any_model_work(fields: dict) -> None:
    gate = Gate()
    gate.open.set()
    engine = GenerationEngine({"gated": gate.model})
    try:
        with pytest.raises(InvalidRequestError) as caught:
            await engine.generate(GenerationRequest(**{"seed": "ROMEO:", "model": "gated", **fields}))
    finally:
        await engine.aclose()
    message = str(caught.value)
    assert message.endswith(".") and "\n" not in message and len(message) < 200
    assert isinstance(caught.value, ValueError) and isinstance(caught.value, EngineError)
    assert isinstance(caught.value, CharLMError)
    assert not gate.entered.is_set()


async def test_a_seed_is_normalised_like_everywhere_else() -> None:
    engine = engine_for()
    try:
        curly = await engine.generate(request(seed="\u201cRomeo\u201d \u200b\u00e9"))
        plain = await engine.generate(request(seed='"Romeo" e'))
    finally:
        await engine.aclose()
    assert curly == plain


# Loading -----------------------------------------------------------------------------------------


async def test_from_directory_serves_every_checkpoint_by_file_stem(tmp_path) -> None:
    tiny_checkpoint(tmp_path / "lstm.safetensors", "lstm")
    tiny_checkpoint(tmp_path / "gru.safetensors", "gru", num_layers=2)
    engine = GenerationEngine.from_directory(tmp_path, device="auto")
    try:
        assert engine.model_names == ("gru", "lstm")
        info = {one.name: one for one in engine.model_info()}
        assert await engine.generate(request(model="gru", length=5))
    finally:
        await engine.aclose()
    gru = info["gru"]
    assert isinstance(gru, ModelInfo)
    assert (gru.kind, gru.hidden_size, gru.num_layers) == ("gru", 32, 2)
    assert gru.parameters == tiny_model("gru", num_layers=2).parameter_count()
    assert gru.val_nats_per_char == 4.5
    assert gru.val_bits_per_char == pytest.approx(4.5 / math.log(2))
    assert gru.training_minutes is None


def test_from_directory_refuses_an_empty_folder_and_names_a_broken_file(tmp_path) -> None:
    with pytest.raises(CheckpointError, match="holds no"):
        GenerationEngine.from_directory(tmp_path)
    tiny_checkpoint(tmp_path / "lstm.safetensors")
    (tmp_path / "broken.safetensors").write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="broken.safetensors"):
        GenerationEngine.from_directory(tmp_path)
    assert not engine_threads()


async def test_models_added_while_serving_are_served_then_unloaded_once_idle(tmp_path) -> None:
    tiny_checkpoint(tmp_path / "lstm.safetensors", "lstm")
    (tmp_path / "voices").mkdir()
    voice = tiny_checkpoint(tmp_path / "voices" / "lore.safetensors", "gru")
    engine = GenerationEngine.from_directory(tmp_path, device="cpu")
    try:
        await asyncio.to_thread(engine.add_model, "voice:lore", voice)
        voice.unlink()  # the engine keeps what it loaded
        assert engine.serves("voice:lore") and "voice:lore" not in engine.model_names
        assert engine.model_bytes("voice:lore") > 0
        # A long request is running when the unload comes: it finishes, then the model goes.
        running = asyncio.ensure_future(engine.generate(request(model="voice:lore", length=3000)))
        await asyncio.sleep(0.05)
        engine.unload_model("voice:lore")
        engine.unload_model("lstm")  # a model of the start is never unloaded
        assert len(await running) == 3000
        for _ in range(200):
            if not engine.serves("voice:lore"):
                break
            await asyncio.sleep(0.01)
        assert not engine.serves("voice:lore") and engine.serves("lstm")
        with pytest.raises(InvalidRequestError, match="Unknown model"):
            await engine.generate(request(model="voice:lore", length=3))
        assert await engine.generate(request(model="lstm", length=3))
    finally:
        await engine.aclose()
