"""Settings and the buttons under replies survive the bot's restart: after a clean stop, and after
kill -9 right after the reply; on each backend (SQLite, and PostgreSQL through DATABASE_URL).

These start their own bot processes (three in all) against their own emulator, one after another
on the same database, so the shared session bot is not disturbed.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.devtools.playground import BOT_CAST
from discord_emulator import Emulator, Reply
from tests.e2e.helpers import (
    REPLY_TIMEOUT,
    ask,
    button,
    fresh_user,
    generation,
    refusal,
    settings_shown,
    start_bot,
)

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]



async def test_settings_survive_a_clean_restart_and_a_kill_9(tmp_path: Path, database: str | None) -> None:
    async with Emulator(cast=BOT_CAST) as emu:
        first = await start_bot(emu, tmp_path, "first", database)
        try:
            await ask(emu, "/settings temperature value:1.3")
            await ask(emu, "/settings length value:42")
            _, before_restart = await ask(emu, "/shakespeare seed:ROMEO:", user=fresh_user(emu))
        finally:
            assert await first.stop() == 0, first.log_tail()

        second = await start_bot(emu, tmp_path, "second", database)
        try:
            _, reply = await ask(emu, "/settings show")
            assert settings_shown(reply) == {
                "temperature": ("1.3", "set by an admin"),
                "length": ("42", "set by an admin"),
                "model": ("lstm", "default"),
            }
            # A reply made by the previous process: its buttons work here, with nothing in memory.
            pressed = await emu.press(before_restart.message["id"], button(before_restart.message, "Again"),
                                      user=fresh_user(emu))
            _, temperature, block = generation(await pressed.wait_reply(REPLY_TIMEOUT))
            assert (temperature, block[:6], len(block)) == (1.3, "ROMEO:", 6 + 42)
            why = await emu.press(before_restart.message["id"], button(before_restart.message, "Why?"),
                                  user=fresh_user(emu))
            explained = (await why.wait_reply(REPLY_TIMEOUT)).message
            assert [each["filename"] for each in explained["attachments"]] == ["why.png"]
            _, reply = await ask(emu, "/shakespeare seed:x", user=fresh_user(emu))
            model, temperature, block = generation(reply)
            assert (temperature, len(block)) == (1.3, 1 + 42)

            _, before_kill = await ask(emu, "/shakespeare seed:x", user=fresh_user(emu))
            _, reply = await ask(emu, "/settings temperature value:0.5")
            assert refusal(reply) == "Temperature is now 0.5 on this server."
        finally:
            # The reply was the promise that the change is stored: nothing may be lost now.
            await second.kill()

        third = await start_bot(emu, tmp_path, "third", database)
        try:
            _, reply = await ask(emu, "/settings show")
            assert settings_shown(reply)["temperature"] == ("0.5", "set by an admin")
            assert settings_shown(reply)["length"] == ("42", "set by an admin")
            # The reply sent just before kill -9: Continue extends it.
            continued = await emu.press(before_kill.message["id"], button(before_kill.message, "Continue"),
                                        user=fresh_user(emu))
            edited = await continued.wait_update(REPLY_TIMEOUT)
            assert len(generation(Reply([edited]))[2]) == 1 + 42 + 42
        finally:
            assert await third.stop() == 0, third.log_tail()
        assert emu.rejected_calls() == []
