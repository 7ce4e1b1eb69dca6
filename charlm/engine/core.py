"""The generation engine: every model call on one worker thread, requests batched step by step.

    engine = GenerationEngine.from_directory(Path("checkpoints"))
    text = await engine.generate(GenerationRequest(seed="ROMEO:", model="lstm"))
    await engine.aclose()

`generate` checks the request on the caller's event loop (cheap: no model work), queues it and
awaits a future. The worker thread admits queued requests into the running batch of their model
between two steps (continuous batching), advances every running stream by one character per step,
and resolves each future through `loop.call_soon_threadsafe` the moment its stream is done. The
event loop therefore never runs model code; it only waits.

Backpressure: at most `max_waiting` requests may wait for a batch row; beyond that `generate`
raises EngineBusyError at once. A caller that is cancelled (or times out) leaves the queue at once,
or its stream leaves the batch at the next step.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import logging
import math
import os
import threading
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch

from charlm.checkpoint import LoadedModel, load_checkpoint
from charlm.devices import DTYPES, cpu_has_int8_dot, cpu_has_native_bf16, resolve_device
from charlm.engine.batch import Job, ModelBatch
from charlm.engine.steppers import Stepper, build_stepper
from charlm.errors import CharLMError, CheckpointError, SamplingError
from charlm.sampling import DEFAULT_LENGTH, DEFAULT_TEMPERATURE, check_sampling_options, prepare_seed
from charlm.torch_private import int8_works

logger = logging.getLogger(__name__)

MAX_GENERATE_LENGTH = 10_000
MAX_SEED_LENGTH = 10_000  # raw characters, before normalising; also the most that prime a stream
MAX_WAITING = 256  # requests that may wait for a batch row before generate() says busy
MAX_BATCH = 64  # streams a model's batch runs at once
# The recurrent weights' dtype for each precision a caller may name ("auto" picks one of them).
WEIGHT_DTYPES = DTYPES
PRECISIONS = ("auto", *WEIGHT_DTYPES)


class EngineError(CharLMError):
    """The engine could not serve a request."""


class EngineBusyError(EngineError):
    """Too many requests are already waiting; the caller should try again later."""


class EngineClosedError(EngineError):
    """The engine is closed, or closed before the request finished."""


class InvalidRequestError(EngineError, ValueError):
    """A request the engine refuses before any model work (bad option, unknown model, bad seed)."""


@dataclass(frozen=True)
class GenerationRequest:
    seed: str
    model: str
    temperature: float = DEFAULT_TEMPERATURE
    length: int = DEFAULT_LENGTH
    top_k: int | None = None
    rng_seed: int | None = None  # the same seed gives the same text, alone or in any batch


@dataclass(frozen=True)
class ModelInfo:
    name: str
    kind: str
    parameters: int
    hidden_size: int
    num_layers: int
    val_nats_per_char: float | None
    val_bits_per_char: float | None
    training_minutes: float | None


def cpu_precisions() -> dict[str, torch.dtype]:
    """The weight precisions this CPU runs as intended: float32, bfloat16 where it is multiplied
    natively, int8 where `torch._int_mm` runs (bench/stepper_quality.py measures each)."""
    return {name: dtype for name, dtype in WEIGHT_DTYPES.items()
            if name == "float32" or (name == "bfloat16" and cpu_has_native_bf16())
            or (name == "int8" and int8_works(torch.device("cpu")))}


def _weight_dtype(precision: str, device: torch.device) -> torch.dtype:
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, not {precision!r}.")
    if precision == "auto":
        # Fastest first, as bench/generate_speed.py --compare measured on CPU (int8 then bfloat16
        # then float32; int8 costs +0.0001 nats/char: bench/stepper_quality.py, docs/benchmarks.md).
        # On CUDA float32 is kept.
        if device.type == "cpu" and cpu_has_int8_dot() and int8_works(device):
            return torch.int8
        native = device.type == "cpu" and cpu_has_native_bf16()
        return torch.bfloat16 if native else torch.float32
    return WEIGHT_DTYPES[precision]


def _optional_float(value: object) -> float | None:
    return float(value) if isinstance(value, (int, float)) and math.isfinite(value) else None


def _tensor_bytes(objects: list[object]) -> int:
    """The bytes of the distinct tensors the objects hold: a module's parameters and buffers, and
    tensors among an object's attributes (directly, or in a list, tuple or dict one level down)."""
    seen: dict[int, int] = {}

    def add(value: object) -> None:
        if isinstance(value, torch.Tensor):
            try:
                key, size = value.data_ptr(), value.numel() * value.element_size()
            except RuntimeError:  # an opaque (packed) tensor: counted by its element count
                key, size = id(value), value.numel() * 4
            seen[key] = max(seen.get(key, 0), size)
        elif isinstance(value, torch.nn.Module):
            for tensor in [*value.parameters(), *value.buffers()]:
                add(tensor)

    for thing in objects:
        add(thing)
        for value in getattr(thing, "__dict__", {}).values():
            add(value)
            if isinstance(value, (list, tuple)):
                for item in value:
                    add(item)
            elif isinstance(value, dict):
                for item in value.values():
                    add(item if not isinstance(item, tuple) else None)
                    for part in item if isinstance(item, tuple) else ():
                        add(part)
    return sum(seen.values())


def _settle(future: asyncio.Future, text: str | None, error: BaseException | None) -> None:
    if future.done():  # the caller was cancelled or timed out meanwhile
        return
    if error is None:
        future.set_result(text)
    else:
        future.set_exception(error)


def _resolve(job: Job, text: str | None = None, error: BaseException | None = None) -> None:
    """Hand a result to the job's event loop; called from the worker thread."""
    # RuntimeError: the caller's event loop is closed, so nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(_settle, job.future, text, error)


class GenerationEngine:
    """Serves text from a set of loaded models; see the module docstring."""

    def __init__(self, models: Mapping[str, LoadedModel | str | os.PathLike],
                 device: str | torch.device = "cpu", max_waiting: int = MAX_WAITING,
                 max_batch: int = MAX_BATCH, precision: str = "auto", threads: int | None = None) -> None:
        """`precision` is the dtype of the recurrent weights of lstm and gru models ("auto": int8
        on CPUs with int8 dot products, else bf16 on CPUs that multiply it natively, else float32).

        `threads` is the torch intra-op threads the worker uses for every step (with the products
        packed, every batch width gained from the second core where this was measured: see
        docs/experiments.md). None means min(2, the CPU count): two is what was measured; more
        threads for very wide batches on bigger machines is
        untested. The rest of the process should run one OpenMP thread (OMP_NUM_THREADS=1 before
        torch loads, as `python -m bot` sets): another thread's OpenMP team made the worker's wide
        steps about 40% slower (64 concurrent requests 0.67 s against 0.48 s, measured)."""
        if not models:
            raise ValueError("GenerationEngine needs at least one model.")
        if max_waiting < 1 or max_batch < 1:
            raise ValueError("max_waiting and max_batch must both be at least 1.")
        if threads is not None and threads < 1:
            raise ValueError("threads must be at least 1.")
        self._device = resolve_device(device)
        weight_dtype = _weight_dtype(precision, self._device)
        self._precision = next(name for name, dtype in WEIGHT_DTYPES.items() if dtype == weight_dtype)
        self._max_waiting = max_waiting
        self._threads = threads if threads is not None else min(2, os.cpu_count() or 1)
        self._weight_dtype, self._max_batch = weight_dtype, max_batch
        self._loaded: dict[str, LoadedModel] = {}
        self._batches: dict[str, ModelBatch] = {}
        self._static = tuple(models)  # the models given at start; add_model's come and go
        for name, source in models.items():
            self._loaded[name], self._batches[name] = self._prepare(source)
        self._unloading: set[str] = set()
        self._lock = threading.Lock()
        self._wakeup = threading.Condition(self._lock)
        self._waiting: dict[str, deque[Job]] = {name: deque() for name in self._batches}
        self._waiting_count = 0
        # Batch steps taken and the rows they carried, since the start (written by the worker only;
        # rows / steps is the mean batch size a metrics scrape reports).
        self.steps = 0
        self.rows_stepped = 0
        self._cancelled: list[Job] = []
        self._closing = False
        self._thread = threading.Thread(target=self._work, name="charlm-engine", daemon=True)
        self._thread.start()

    def _prepare(self, source: LoadedModel | str | os.PathLike) -> tuple[LoadedModel, ModelBatch]:
        with torch.no_grad():
            loaded = source if isinstance(source, LoadedModel) else load_checkpoint(source)
            # A private copy: the generic stepper moves it to the device and puts it in eval mode.
            model = copy.deepcopy(loaded.model).to(self._device).eval()
            stepper = build_stepper(model, max(self._max_batch, Stepper.min_rows), self._device,
                                    self._weight_dtype)
            return loaded, ModelBatch(stepper, loaded.alphabet, self._max_batch,
                                      MAX_SEED_LENGTH + MAX_GENERATE_LENGTH, self._device)

    def add_model(self, name: str, source: LoadedModel | str | os.PathLike) -> None:
        """Serve one more model (a server's voice) under `name`, from now on; a model being unloaded
        under that name is simply kept. Blocking (it reads and prepares the weights): call it from a
        thread other than the event loop's."""
        with self._lock:
            if name in self._loaded:
                self._unloading.discard(name)
                return
        loaded, batch = self._prepare(source)
        with self._lock:
            if name not in self._loaded:
                self._loaded[name], self._batches[name] = loaded, batch
                self._waiting[name] = deque()

    def unload_model(self, name: str) -> None:
        """Stop serving a model added with add_model once nothing waits for it or runs on it (the
        worker drops it between steps); its memory goes with it. The start's models stay."""
        with self._lock:
            if name in self._loaded and name not in self._static:
                self._unloading.add(name)
                self._wakeup.notify()

    def model_bytes(self, name: str) -> int:
        """About what a model costs in memory: the tensors of its checkpoint as loaded, of the
        worker's copy in the form its steps use, and of its batch's buffers (counted once each)."""
        loaded, batch = self._loaded.get(name), self._batches.get(name)
        if loaded is None or batch is None:
            return 0
        return _tensor_bytes([loaded.model, batch.stepper, batch])

    @classmethod
    def from_directory(cls, directory: str | os.PathLike, device: str | torch.device = "auto",
                       max_waiting: int = MAX_WAITING, max_batch: int = MAX_BATCH,
                       **options: object) -> GenerationEngine:
        """Serve every `*.safetensors` checkpoint in `directory`, each named by its file stem."""
        directory = Path(directory)
        if not directory.is_dir():
            raise CheckpointError(f"Checkpoint folder {directory} does not exist.")
        paths = sorted(directory.glob("*.safetensors"))
        if not paths:
            raise CheckpointError(f"Checkpoint folder {directory} holds no *.safetensors files.")
        models = {path.stem: load_checkpoint(path) for path in paths}
        return cls(models, device=device, max_waiting=max_waiting, max_batch=max_batch, **options)

    @property
    def model_names(self) -> tuple[str, ...]:
        """The models given at start (the shipped ones); add_model's are not listed."""
        return self._static

    def serves(self, name: str) -> bool:
        return name in self._loaded

    def loaded_model(self, name: str) -> LoadedModel | None:
        """The checkpoint a model was loaded from (not the worker's copy): for reading a text
        through it on another thread (charlm.explain); None for a model not served."""
        return self._loaded.get(name)

    @property
    def precision(self) -> str:
        """The dtype the lstm and gru recurrent weights run in: "float32", "bfloat16" or "int8"."""
        return self._precision

    def model_info(self) -> list[ModelInfo]:
        infos = []
        for name in self._static:
            loaded = self._loaded[name]
            nats = _optional_float(loaded.training.get("val_nats_per_char"))
            infos.append(ModelInfo(
                name=name, kind=loaded.config.kind, parameters=loaded.model.parameter_count(),
                hidden_size=loaded.config.hidden_size, num_layers=loaded.config.num_layers,
                val_nats_per_char=nats, val_bits_per_char=None if nats is None else nats / math.log(2),
                training_minutes=_optional_float(loaded.training.get("minutes"))))
        return infos

    async def generate(self, request: GenerationRequest) -> str:
        """The text generated after `request.seed` (the continuation only, `request.length` chars)."""
        loop = asyncio.get_running_loop()
        job = self._job(request, loop)
        with self._lock:
            if self._closing:
                raise EngineClosedError("The generation engine is closed.")
            if job.model not in self._waiting:  # unloaded since the request was checked
                raise InvalidRequestError(f"Unknown model {job.model!r}.")
            if self._waiting_count >= self._max_waiting:
                raise EngineBusyError(
                    f"The generation engine is busy ({self._waiting_count} requests waiting); "
                    "try again in a moment.")
            self._waiting[job.model].append(job)
            self._waiting_count += 1
            self._wakeup.notify()
        try:
            return await job.future
        except asyncio.CancelledError:
            self._cancel(job)
            raise

    def _job(self, request: GenerationRequest, loop: asyncio.AbstractEventLoop) -> Job:
        """Check a request and turn it into a Job; every refusal is one InvalidRequestError sentence."""
        if not isinstance(request, GenerationRequest):
            raise InvalidRequestError("generate() takes a GenerationRequest.")
        if not isinstance(request.model, str) or request.model not in self._loaded:
            raise InvalidRequestError(
                f"Unknown model {request.model!r}; choose one of: {', '.join(self._static)}.")
        try:
            check_sampling_options(request.temperature, request.length, request.top_k,
                                   max_length=MAX_GENERATE_LENGTH, rng_seed=request.rng_seed)
        except SamplingError as error:
            raise InvalidRequestError(str(error)) from None
        rng_seed = request.rng_seed
        seed = request.seed
        if not isinstance(seed, str):
            raise InvalidRequestError("The seed must be text.")
        if not seed:
            raise InvalidRequestError("The seed is empty; give at least one character to start from.")
        if len(seed) > MAX_SEED_LENGTH:
            raise InvalidRequestError(
                f"The seed has {len(seed)} characters; the most allowed is {MAX_SEED_LENGTH}.")
        alphabet = self._loaded[request.model].alphabet
        try:
            # Transliteration can lengthen a seed; only its last MAX_SEED_LENGTH characters prime.
            normalised = prepare_seed(alphabet, seed)[-MAX_SEED_LENGTH:]
        except SamplingError as error:
            raise InvalidRequestError(str(error)) from None
        return Job(model=request.model, seed_ids=alphabet.encode(normalised),
                   temperature=float(request.temperature), length=request.length, top_k=request.top_k,
                   rng_seed=rng_seed, loop=loop, future=loop.create_future())

    def _cancel(self, job: Job) -> None:
        """Free a cancelled caller's place: out of the queue now, or out of the batch next step."""
        with self._lock:
            waiting = self._waiting[job.model]
            if job in waiting:
                waiting.remove(job)
                self._waiting_count -= 1
            else:
                self._cancelled.append(job)
                self._wakeup.notify()

    def close(self) -> None:
        """Stop the worker thread; requests still queued or running fail with EngineClosedError.

        Idempotent; blocks for at most about one step. Safe to call from any thread."""
        with self._lock:
            self._closing = True
            self._wakeup.notify()
        if threading.current_thread() is not self._thread:
            self._thread.join()

    async def aclose(self) -> None:
        """`close()` without blocking the event loop while the worker finishes its step."""
        await asyncio.to_thread(self.close)

    # The worker thread ------------------------------------------------------------------------

    @property
    def waiting(self) -> int:
        """Requests queued and not yet in a batch (read without the lock: for a gauge)."""
        return self._waiting_count

    @property
    def threads(self) -> int:
        """The most torch intra-op threads a step uses."""
        return self._threads

    def _work(self) -> None:
        torch.set_num_threads(self._threads)  # per thread: the worker's own intra-op thread count
        with torch.inference_mode():
            while self._serve_once():
                pass
        closed = EngineClosedError("The generation engine closed before this request finished.")
        with self._lock:
            leftovers = [job for waiting in self._waiting.values() for job in waiting]
            for waiting in self._waiting.values():
                waiting.clear()
            self._waiting_count = 0
        for batch in self._batches.values():
            leftovers.extend(batch.clear())
        for job in leftovers:
            _resolve(job, error=closed)

    def _serve_once(self) -> bool:
        """Admit, cancel, then advance every model's batch by one step; False once closing."""
        with self._wakeup:
            while not (self._closing or self._waiting_count or self._cancelled or self._unloading
                       or any(batch.streams for batch in self._batches.values())):
                self._wakeup.wait()
            if self._closing:
                return False
            for name in list(self._unloading):
                if not self._waiting[name] and not self._batches[name].streams and not any(
                        job.model == name for job in self._cancelled):
                    del self._loaded[name], self._batches[name], self._waiting[name]
                    self._unloading.discard(name)
            batches = list(self._batches.values())
            cancelled, self._cancelled = self._cancelled, []
            admitted = []
            for name, batch in self._batches.items():
                waiting = self._waiting[name]
                for _ in range(min(batch.free_rows, len(waiting))):
                    admitted.append((batch, waiting.popleft()))
                    self._waiting_count -= 1
        for job in cancelled:
            self._batches[job.model].remove(job)
        for batch, job in admitted:
            try:
                batch.admit(job)
            except Exception:
                logger.exception("Admitting a request failed.")
                _resolve(job, error=EngineError(
                    "The engine could not start this request; the error is in the log."))
        for batch in batches:
            if not batch.streams:
                continue
            self.steps += 1
            self.rows_stepped += len(batch.streams)
            try:
                finished = batch.step()
            except Exception:  # a failing model must fail its requests, not kill the worker
                logger.exception("Generation step failed; failing the batch's requests.")
                failure = EngineError("Generation failed inside the engine; the error is in the log.")
                for job in batch.clear():
                    _resolve(job, error=failure)
                continue
            for job, text in finished:
                _resolve(job, text)
        return True
