"""Which model writes a request: a shipped one, or one of the server's voices, loaded on first use.

A voice is named within its server ("lore"), stored in replies and settings as "voice:lore", and
served by the engine under a key of its own that holds the server's id and when it was trained
("voice:<guild>:lore:<time>"), so two servers' voices of one name never meet and a voice trained
again is a new model. `VoiceCache` keeps the loaded voices under VOICE_CACHE_MB (as the engine
counts them, GenerationEngine.model_bytes): past it, the least recently used are unloaded (the
engine finishes what runs on them first). A request whose voice was unloaded between choosing and
writing (another request needed the room) loads it again and is served: `generate`. A voice is
loaded from its file on this host (`VoiceBook.voice_file`: with PostgreSQL, a copy fetched from the
database the first time, so any host serves any voice).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from bot.errors import UNREACHABLE, SettingsUnavailableError, VoiceError
from bot.i18n import Phrase
from bot.names import VOICE_PREFIX
from bot.storage.voices import Voice, VoiceBook
from charlm.engine import GenerationEngine, GenerationRequest, InvalidRequestError
from charlm.errors import CharLMError

log = logging.getLogger(__name__)
T = TypeVar("T")

@dataclass(frozen=True)
class Chosen:
    """A model for one request: the engine's key, the name a reply shows, the name a reply stores."""

    engine_key: str
    shown: str
    stored: str


def shipped(name: str) -> Chosen:
    return Chosen(name, name, name)


def voice_name(stored: str) -> str | None:
    """"lore" for "voice:lore"; None for a shipped model's name."""
    return stored[len(VOICE_PREFIX):] if stored.startswith(VOICE_PREFIX) else None


# One voice-book call on the way to a reply waits at most this long for the database: the book's
# own bound (VoiceBook.call_seconds: SQLite's busy timeout; PostgreSQL's timeouts and its socket
# shut), set by the client. Past it, the call fails with the database's one sentence (busy, or
# cannot be reached).
CALL_SECONDS = 5.0
# ask_book's bound on the event loop's side, a little longer: the book's own bound speaks first.
ASK_SECONDS = CALL_SECONDS + 2.0


async def ask_book(call: Callable[..., Awaitable[T]], *args: object) -> T:
    """`await call(*args)` (a VoiceBook method), within ASK_SECONDS; past them, the call is
    cancelled and SettingsUnavailableError says the "cannot reach" sentence. A call whose
    cancellation the driver does not heed ends at the book's own bound, which comes first."""
    try:
        return await asyncio.wait_for(call(*args), ASK_SECONDS)
    except asyncio.TimeoutError:
        raise SettingsUnavailableError(UNREACHABLE) from None


def unreachable(name: str) -> Phrase:
    return Phrase("The bot cannot reach its database right now, so the voice {name} cannot be loaded; "
                  "try again in a moment.", name=name[:20])


class VoiceCache:
    def __init__(self, engine: GenerationEngine, book: VoiceBook, budget_mb: float) -> None:
        self.engine, self.book = engine, book
        self.budget = int(budget_mb * 1024 * 1024)
        self._used: OrderedDict[str, Voice] = OrderedDict()  # engine key -> its voice, least recent first
        self._loading: dict[str, asyncio.Future] = {}
        self._voices: dict[str, Voice] = {}  # every voice chosen, by engine key, to load it again
        # Loads run on one thread of their own: each thread allocates from its own malloc arena, so
        # loads spread over the default executor's threads left each arena holding a freed voice's
        # memory (bench/voice_serving.py: 50 voices through a 10-voice cache grew the process by
        # 1.5 GB instead of about 0.5 GB); on one thread a loaded voice reuses an unloaded one's.
        self._loader = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="voice-loader")

    @property
    def loaded(self) -> list[str]:
        return list(self._used)

    async def choose(self, guild_id: int | None, name: str) -> Chosen:
        """The server's voice `name`, loaded; VoiceError (one sentence) when it has none by that name.

        With the database away, a voice this process has loaded still writes (as settings fall back
        to the last read); one it has not is SettingsUnavailableError, one sentence."""
        try:
            voice = None if guild_id is None else await ask_book(self.book.voice, guild_id, name)
        except SettingsUnavailableError:
            loaded = self._loaded_voice(guild_id, name)
            if loaded is None:
                raise SettingsUnavailableError(unreachable(name)) from None
            log.warning("The voice database is away; voice %s of guild %s writes as last loaded.",
                        name, guild_id)
            voice = loaded
        if voice is None:
            raise VoiceError(Phrase("This server has no voice named {name}; /voice list shows its voices.",
                                    name=name[:20]))
        key = f"{VOICE_PREFIX}{guild_id}:{voice.name}:{voice.created_at:.0f}"
        self._voices[key] = voice
        try:
            await self._load(key, voice)
        except SettingsUnavailableError:  # its weights are not on this host, and the database is away
            raise SettingsUnavailableError(unreachable(voice.name)) from None
        return Chosen(key, Phrase("voice {name}", name=voice.name), voice.model_key)

    def _loaded_voice(self, guild_id: int | None, name: str) -> Voice | None:
        """The newest voice `name` of the server that is loaded in the engine now, if any."""
        prefix = f"{VOICE_PREFIX}{guild_id}:"
        loaded = [voice for key, voice in self._used.items()
                  if key.startswith(prefix) and voice.name == name.lower() and self.engine.serves(key)]
        return max(loaded, key=lambda voice: voice.created_at, default=None)

    async def _load(self, key: str, voice: Voice) -> None:
        if key not in self._used or not self.engine.serves(key):
            loading = self._loading.get(key)
            if loading is None:
                loading = self._loading[key] = asyncio.ensure_future(self._add(key, voice))
                loading.add_done_callback(lambda _: self._loading.pop(key, None))
            try:
                await asyncio.shield(loading)
            except (CharLMError, OSError) as error:  # deleted meanwhile, or its file is unreadable
                log.warning("Voice %s could not be loaded: %s", key, error)
                raise VoiceError(Phrase("This server has no voice named {name}; /voice list shows its "
                                        "voices.", name=voice.name)) from None
        self._used[key] = voice
        self._used.move_to_end(key)
        self._evict(keep=key)

    async def _add(self, key: str, voice: Voice) -> None:
        # The file on this host: with PostgreSQL, fetched from the database the first time.
        path: Path = await ask_book(self.book.voice_file, voice)
        await asyncio.get_running_loop().run_in_executor(self._loader, self.engine.add_model, key, path)

    def _evict(self, keep: str) -> None:
        total = sum(self.engine.model_bytes(key) for key in self._used)
        for key in list(self._used):
            if total <= self.budget:
                break
            if key == keep:
                continue
            total -= self.engine.model_bytes(key)
            self.engine.unload_model(key)
            del self._used[key]
            log.debug("Unloaded voice %s (voices take more than VOICE_CACHE_MB).", key)

    async def generate(self, request: GenerationRequest) -> str:
        """engine.generate, loading the request's voice again if it was unloaded since it was chosen."""
        try:
            return await self.engine.generate(request)
        except InvalidRequestError:
            voice = self._voices.get(request.model)
            if voice is None or self.engine.serves(request.model):
                raise
        await self._load(request.model, voice)
        return await self.engine.generate(request)

    def forget(self, guild_id: int, name: str) -> None:
        """A voice was deleted: unload it once idle (a request writing with it finishes)."""
        prefix = f"{VOICE_PREFIX}{guild_id}:{name}:"
        for key in [key for key in self._voices if key.startswith(prefix)]:
            self.engine.unload_model(key)
            self._used.pop(key, None)
            del self._voices[key]
