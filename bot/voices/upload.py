"""A server's uploaded text, fetched and checked before any job is queued.

The bot downloads only from Discord's attachment host (DISCORD_CDN_URL, then /attachments/... or,
where files attached to a command live, /ephemeral-attachments/...), never a URL a person chose; it
reads at most MAX_UPLOAD_BYTES, stopping as soon as more arrives (the size Discord states is checked
first, but not trusted). What it keeps must be text: UTF-8 (with or without a BOM) or UTF-16 with a
BOM, no NUL bytes or other binary, mostly characters the models know once transliterated
(unidecode), and at least MIN_CHARACTERS of them. Each refusal is one sentence.
"""

from __future__ import annotations

import codecs

import aiohttp
import yarl

from bot.errors import VoiceError
from bot.i18n import Phrase
from charlm.alphabet import Alphabet
from charlm.training.finetune import MIN_CHARACTERS

MAX_UPLOAD_BYTES = 2 * 1024 * 1024  # a book: Genesis to Ruth is 1.06 MB
MIN_KNOWN_FRACTION = 0.8  # of the text's characters, after transliteration
DOWNLOAD_SECONDS = 30.0
TOO_LARGE = Phrase("The file is larger than {most} MB, the most a voice learns from.",
                   most=MAX_UPLOAD_BYTES // (1024 * 1024))


def check_source(url: object, cdn_url: str) -> yarl.URL:
    """The attachment's URL, if it is on Discord's attachment host; VoiceError otherwise."""
    try:
        parsed = yarl.URL(url) if isinstance(url, str) else None
        cdn = yarl.URL(cdn_url)
    except ValueError:
        parsed = None
    root = cdn.path.rstrip("/")
    if (parsed is None or parsed.scheme != cdn.scheme or parsed.host != cdn.host or parsed.port != cdn.port
            or not parsed.path.startswith((f"{root}/attachments/", f"{root}/ephemeral-attachments/"))
            or parsed.user):
        raise VoiceError(Phrase("That file is not an attachment Discord sent; attach the text to the "
                                "command."))
    return parsed


def check_size(stated_size: object, limit: int = MAX_UPLOAD_BYTES) -> None:
    """Refuse at once a file Discord says is larger than `limit` (the download checks again)."""
    if isinstance(stated_size, int) and stated_size > limit:
        raise VoiceError(TOO_LARGE)


async def download(url: yarl.URL, stated_size: object, limit: int = MAX_UPLOAD_BYTES) -> bytes:
    """The file's bytes, refusing past `limit` while reading (and at once if Discord says so)."""
    check_size(stated_size, limit)
    received = bytearray()
    timeout = aiohttp.ClientTimeout(total=DOWNLOAD_SECONDS)
    try:
        async with aiohttp.ClientSession(timeout=timeout) as session, \
                session.get(url, allow_redirects=False) as response:
            if response.status != 200:
                raise VoiceError(Phrase("Discord did not hand over the file (HTTP {status}); attach it "
                                        "again.", status=response.status))
            async for chunk in response.content.iter_chunked(64 * 1024):
                received += chunk
                if len(received) > limit:
                    raise VoiceError(TOO_LARGE)
    except (aiohttp.ClientError, TimeoutError) as error:
        raise VoiceError(Phrase("The file could not be fetched from Discord ({error}); try again.",
                                error=type(error).__name__)) from None
    return bytes(received)


def decode_text(data: bytes) -> str:
    """UTF-16 with a BOM, or UTF-8 (a BOM allowed); binary and other encodings refused."""
    if data.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        try:
            text = data.decode("utf-16")
        except UnicodeDecodeError:
            raise VoiceError(Phrase("The file starts like UTF-16 but is not; save it as UTF-8.")) from None
    else:
        if b"\x00" in data:
            raise VoiceError(Phrase("That file is not text (it holds binary data); upload a .txt file."))
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise VoiceError(Phrase("The file is not UTF-8 (or UTF-16 with a BOM); save it as UTF-8 and "
                                    "upload it again.")) from None
    controls = sum(1 for character in text if ord(character) < 32 and character not in "\n\r\t\f")
    # A NUL at all (UTF-16 can carry one) is binary, and no database's text column holds it.
    if "\x00" in text or controls > len(text) * 0.01:
        raise VoiceError(Phrase("That file is not text (it holds binary data); upload a .txt file."))
    return text


def check_text(text: str, alphabet: Alphabet | None = None) -> str:
    """The text, if there is enough of it the models can read; VoiceError otherwise."""
    alphabet = alphabet or Alphabet()
    visible = [character for character in text if not character.isspace()]
    known = [character for character in alphabet.normalise("".join(visible)) if not character.isspace()]
    if visible and len(known) < MIN_KNOWN_FRACTION * len(visible):
        raise VoiceError(Phrase("Most of the text is in characters the models cannot write, even "
                                "transliterated; a voice needs text mostly in Latin letters."))
    if len(alphabet.normalise(text)) < MIN_CHARACTERS:
        raise VoiceError(Phrase("The text is too short to learn from: a voice needs at least {least} "
                                "characters.", least=f"{MIN_CHARACTERS:,}"))
    return text
