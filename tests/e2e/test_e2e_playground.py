"""`python -m bot --local`, as README tells a newcomer to run it: no token, commands from a pipe."""

from __future__ import annotations

import asyncio
import signal
import sys
from pathlib import Path

import pytest

from tests.e2e.helpers import BOT_START_TIMEOUT, REPO, bot_env

pytestmark = [pytest.mark.e2e, pytest.mark.asyncio(loop_scope="session")]

TYPED = """\
/about
/shakespeare seed:b temp:0.8 length:30
/settings temperature value:1.2
/as member /settings reset
/settings show
/shakespeare seed:b temp:9
/as member /say Hail **Caesar**, see https://example.com
/as member /apps 6
/as owner /press 7 continue
/as owner /press 7 why
/complete /shakespeare seed:JU
/as member /press 7 delete
/away /about
/install
/away /preferences length value:20
/group /preferences show
/voice train file:{lore} name:lore
/voice status
/locale ko
/settings show
/quit
"""


async def start_playground(tmp_path: Path) -> asyncio.subprocess.Process:
    """`python -m bot --local` with no token, its stdin and stdout piped to the test (no trainer:
    a voice queued here stays queued)."""
    env = {**bot_env(tmp_path / "playground.sqlite3"), "VOICE_TRAINER": "off"}
    env.pop("DISCORD_TOKEN", None)
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "--local", cwd=REPO, env=env,
        stdin=asyncio.subprocess.PIPE, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT,
    )


async def test_local_playground_answers_typed_commands(tmp_path: Path) -> None:
    lore = tmp_path / "lore.txt"
    lore.write_text("The lore of the server, told at length.\n" * 400, encoding="utf-8")
    process = await start_playground(tmp_path)
    typed = TYPED.format(lore=lore)
    output, _ = await asyncio.wait_for(process.communicate(typed.encode()), BOT_START_TIMEOUT + 60)
    shown = output.decode()
    assert process.returncode == 0, shown

    assert "\u256d Prospero used /about\nShakespeare [APP]\n\u2502 Shakespeare bot " in shown
    assert ("\u256d Prospero used /shakespeare\nShakespeare [APP]\n"
            "\u2502 lstm, temperature 0.8\n\u2502 \u2503 b") in shown
    assert "\u2502 Temperature is now 1.2 on this server.\n\u2502 Only you can see this" in shown
    assert "/settings is hidden from member" in shown
    assert ("\u256d Miranda used /settings reset\nShakespeare [APP]\n"
            "\u2502 Only members with the Manage Server permission") in shown
    assert "\u2502 - temperature: 1.2 (set by an admin)" in shown
    assert "Discord: temp must be between 0.1 and 2.0." in shown
    # Messages are numbered; buttons, the message command and suggestions work from the prompt.
    assert "Miranda\n\u2502 Hail Caesar, see https://example.com\n\u2570 #6" in shown
    assert "(Miranda used Continue as Shakespeare on #6)" in shown
    assert "\u2502 \u2503 Hail Caesar, see example.com" in shown
    assert "\u2502 [Again] [Continue] [Delete] [Why?]\n\u2570 #7\n" in shown
    assert "(Guild Owner pressed continue)" in shown and "\u2570 #7 (edited)" in shown
    # Why? answers privately with the picture, saved where the playground keeps files.
    assert "(Guild Owner pressed why)" in shown and "\u2502 Why the model wrote this:" in shown
    [why] = (tmp_path / "playground-files").glob("*-why.png")
    assert f"(saved to {why})" in shown and why.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert "  JULIET:" in shown
    assert "(message #7 was deleted)" in shown
    # The bot installed to Prospero's own account: it follows him to a server without it.
    assert "Discord: /about cannot be used in The Rose, a server without the app, unless admin" in shown
    assert "Prospero added the bot to their own account." in shown
    assert "\u2502 You now get 20 characters.\n\u2502 Only you can see this" in shown
    assert "\u2502 - length: 20 (set by you)" in shown
    # A file typed as a path is uploaded as the attachment.
    assert shown.count("\u2502 Voice lore is queued: number 1 in line.") == 2  # and /voice status
    assert "Prospero's Discord now speaks ko." in shown and "\u2502 이 서버의 설정:" in shown
    assert "Discord refused" not in shown and "Not in Discord's published API" not in shown


async def test_ctrl_c_leaves_at_once_without_waiting_for_a_line(tmp_path: Path) -> None:
    """Ctrl+C at the prompt must not wait for Enter (a readline() blocked in an executor would)."""
    process = await start_playground(tmp_path)
    assert process.stdout is not None
    shown = b""
    while b"Connected." not in shown:
        line = await asyncio.wait_for(process.stdout.readline(), BOT_START_TIMEOUT)
        assert line, shown.decode()
        shown += line
    process.send_signal(signal.SIGINT)  # stdin stays open: nothing more is typed
    try:
        await asyncio.wait_for(process.wait(), 30)
    finally:
        if process.returncode is None:
            process.kill()
    assert process.returncode == 130
