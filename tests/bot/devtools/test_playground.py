"""The playground's prompt and rendering, driven against a bare discord.py client.

`python -m bot --local` with the real bot is covered by tests/e2e/test_e2e_playground.py.
"""

from __future__ import annotations

import io

from bot.commands.formatting import generation_reply
from bot.devtools.playground import BOT_CAST, Playground
from discord_emulator import Emulator
from discord_emulator.models import Clock, World
from discord_emulator.render import render_message
from tests.emulator.harness import connect_bare_client


async def test_prompt_lines_become_interactions_and_replies_render_like_discord() -> None:
    async with Emulator(cast=BOT_CAST) as emu, connect_bare_client(emu) as client:
        out = io.StringIO()
        playground = Playground(emu, out, reply_timeout=5)
        member = emu.world.user("member")
        client.release.set()

        for line in [
            f"/echo text:**Hi** <@{member.id}> ```\nverbatim **text**\n```",
            "/slow private:true",
            "/as member /settings reset",
            "/settings temperature value:9",
            "/dm /settings reset",
            "/as nobody",
            "/as member",
            "/users",
            "/help",
        ]:
            assert await playground.handle(line)
        assert not await playground.handle("/quit")
        shown = out.getvalue()

    echoed = (
        "\u256d Prospero used /echo\nShakespeare [APP]\n\u2502 Hi @Miranda\n"
        "\u2502 \u2503 verbatim **text**"
    )
    assert echoed in shown
    assert "(Shakespeare is thinking\u2026)\n\u256d Prospero used /slow" in shown
    assert "\u2502 done\n\u2502 Only you can see this" in shown
    assert "/settings is hidden from member" in shown
    assert "\u256d Miranda used /settings reset\nShakespeare [APP]\n\u2502 reset allowed=False" in shown
    assert "Discord: value must be between 0.1 and 2.0." in shown
    assert "Discord: /settings is not available in direct messages." in shown
    assert "No user 'nobody'" in shown and "You are now member." in shown
    assert "  member: Miranda, plain member (you)" in shown
    assert "  admin: Prospero, may manage the server" in shown
    assert "/settings: Server settings.\n      temperature value:<number>\n      reset" in shown
    assert "      text:<text>\n      [safe:<true/false>]" in shown
    assert "Discord refused" not in shown and "Not in Discord's published API" not in shown


def test_a_seed_of_backticks_and_markdown_renders_inside_the_code_block_as_discord_shows_it() -> None:
    # The bot breaks every run of backticks with zero-width spaces; Discord then sees no fence in
    # the seed, and neither may the renderer, though it hides the zero-width spaces themselves.
    seed = "```evil **bold** _it_"
    content = generation_reply(seed, "\nmore", model="lstm", temperature=0.8)
    message = {"author": {"username": "shakespeare", "global_name": "Shakespeare"}, "content": content,
               "flags": 0, "embeds": [], "mentions": [], "mention_everyone": False}
    shown = render_message(message, World(Clock(), cast=BOT_CAST), "Prospero", "shakespeare").split("\n")
    assert shown[2:] == ["\u2502 lstm, temperature 0.8", f"\u2502 \u2503 {seed}", "\u2502 \u2503 more"]


async def test_a_user_install_reaches_a_server_without_the_bot_and_group_dms() -> None:
    from tests.emulator.harness import InstallsClient

    async with Emulator(cast=BOT_CAST) as emu, connect_bare_client(emu, InstallsClient):
        out = io.StringIO()
        playground = Playground(emu, out, reply_timeout=5)
        for line in ["/away /anywhere", "/install", "/away /anywhere", "/group /anywhere",
                     "/away /echo text:hi", "/install off", "/group /anywhere"]:
            assert await playground.handle(line)
        shown = out.getvalue()
    refused = "Discord: /anywhere cannot be used in The Rose, a server without the app, unless admin"
    assert shown.count(refused) == 1
    assert "Prospero added the bot to their own account. Try /away /shakespeare." in shown
    assert shown.count("\u2502 owners=True") == 2  # in The Rose and in the group DM
    assert "Discord: /echo cannot be used in The Rose" in shown
    assert "Prospero removed the bot from their own account." in shown
    assert "Discord: /anywhere cannot be used in a group DM" in shown
    assert "Discord refused" not in shown and "Not in Discord's published API" not in shown
