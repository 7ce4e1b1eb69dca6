"""Files: attachment options (type 11) on commands, and the CDN that serves the files behind
attachments, against the real discord.py client; and the long life of a deferred answer's token."""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import discord
import pytest
from discord import app_commands

from discord_emulator import CommandInputError, Emulator
from discord_emulator.kinds import ATTACHMENT_SIZE_LIMIT
from tests.emulator.harness import BareClient, assert_clean, connect_bare_client, http_errors

LORE = b"To be, or not to be, that is the question:\nWhether 'tis nobler in the mind to suffer\n"


def digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class FilesClient(BareClient):
    def _add_commands(self) -> None:
        super()._add_commands()
        self.seen: list[discord.Attachment] = []
        self.saved: list[discord.Interaction] = []

        @self.tree.command(description="Describe the file, without downloading it.")
        async def inspect(interaction: discord.Interaction, file: discord.Attachment) -> None:
            self.seen.append(file)
            await interaction.response.send_message(f"{file.filename}|{file.size}|{file.url}", ephemeral=True)

        @self.tree.command(description="Download the file and answer with its digest.")
        async def fetch(interaction: discord.Interaction, file: discord.Attachment, name: str) -> None:
            self.seen.append(file)
            await interaction.response.defer(ephemeral=True, thinking=True)
            data = await file.read()  # discord.py's own download, from file.url
            answer = f"{name}|{len(data)}|{digest(data)}"
            await self._guard(interaction.edit_original_response(content=answer))

        voice = app_commands.Group(name="voice", description="Voices.")

        @voice.command(description="Learn a voice from a text file.")
        async def train(interaction: discord.Interaction, file: discord.Attachment, name: str) -> None:
            data = await file.read()
            await interaction.response.send_message(f"{name}|{file.filename}|{digest(data)}")

        self.tree.add_command(voice)

        @self.tree.command(description="Answer with a file of the bot's own.")
        async def report(interaction: discord.Interaction) -> None:
            self.saved.append(interaction)
            report = discord.File(io.BytesIO(LORE), filename="report.txt")
            await interaction.response.send_message("here", file=report)

        @self.tree.command(description="Defer privately and let the test edit the answer.")
        async def progress(interaction: discord.Interaction) -> None:
            self.saved.append(interaction)
            await interaction.response.defer(ephemeral=True, thinking=True)


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[FilesClient]:
    async with connect_bare_client(emu, FilesClient) as bot:
        yield bot  # type: ignore[misc]


async def download(url: str) -> tuple[int, bytes, str]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.read(), response.headers.get("Content-Type", "")


async def test_an_attached_file_reaches_the_bot_with_a_url_that_serves_it(
    emu: Emulator, client: FilesClient
) -> None:
    assert emu.commands.find("fetch", None)["options"][0]["type"] == 11  # synced as Discord keeps it
    sent = await emu.send_command("/fetch name:lore", user="member",
                                  files={"file": ("lore.txt", LORE, "text/plain")})
    option = next(each for each in sent.payload["data"]["options"] if each["name"] == "file")
    assert option["type"] == 11
    attachment = sent.payload["data"]["resolved"]["attachments"][option["value"]]
    channel, attachment_id = emu.world.channel.id, option["value"]
    place = f"{emu.cdn_base}/ephemeral-attachments/{channel}/{attachment_id}/lore.txt?ex="
    assert attachment["url"].startswith(place) and attachment["proxy_url"].startswith(place)
    assert {key: attachment[key] for key in ("id", "filename", "size", "content_type", "ephemeral")} == {
        "id": attachment_id, "filename": "lore.txt", "size": len(LORE), "content_type": "text/plain",
        "ephemeral": True,
    }
    assert emu.files[attachment_id] == LORE

    reply = await sent.wait_reply(5)
    assert reply.content == f"lore|{len(LORE)}|{digest(LORE)}"
    seen = client.seen[-1]
    assert (seen.filename, seen.size, seen.ephemeral) == ("lore.txt", len(LORE), True)
    assert seen.url == attachment["url"]
    status, body, content_type = await download(seen.url)
    assert (status, body, content_type) == (200, LORE, "text/plain")
    assert [request.status for request in emu.world.cdn.requests] == [200, 200]  # the bot's, the test's
    assert emu.bot_env()["DISCORD_CDN_URL"] == emu.cdn_base
    assert_clean(emu)


async def test_a_typed_path_attaches_that_local_file(
    emu: Emulator, client: FilesClient, tmp_path: Path
) -> None:
    path = tmp_path / "sonnet 18.txt"
    path.write_bytes(LORE)
    sent = await emu.send_command(f"/fetch file:{path} name:sonnet", user="member")
    attachment = next(iter(sent.payload["data"]["resolved"]["attachments"].values()))
    assert attachment["filename"] == "sonnet 18.txt"
    assert attachment["content_type"] == "text/plain; charset=utf-8"  # guessed, as Discord reports text
    assert "/sonnet%2018.txt?" in attachment["url"]
    assert (await sent.wait_reply(5)).content == f"sonnet|{len(LORE)}|{digest(LORE)}"
    with pytest.raises(CommandInputError, match="no file"):
        await emu.send_command(f"/fetch file:{tmp_path / 'missing.txt'} name:x")
    # In a subcommand, as the playground types it.
    sent = await emu.send_command(f"/voice train file:{path} name:lore", guild=False, user="member")
    train = sent.payload["data"]["options"][0]
    attachment_id = next(each["value"] for each in train["options"] if each["name"] == "file")
    dm = emu.world.dm_channel(emu.world.user("member")).id
    assert f"/ephemeral-attachments/{dm}/{attachment_id}/" in sent.payload["data"]["resolved"]["attachments"][
        attachment_id]["url"]
    assert (await sent.wait_reply(5)).content == f"lore|sonnet 18.txt|{digest(LORE)}"
    assert_clean(emu)


async def test_files_over_the_upload_limit_and_missing_files_are_refused(
    emu: Emulator, client: FilesClient, tmp_path: Path
) -> None:
    assert ATTACHMENT_SIZE_LIMIT == 10 * 1024 * 1024
    too_big = b"x" * (ATTACHMENT_SIZE_LIMIT + 1)
    with pytest.raises(CommandInputError, match=r"at most 10 MiB \(10485760 bytes\)"):
        await emu.send_command("/fetch name:x", files={"file": ("big.txt", too_big)})
    huge = tmp_path / "huge.txt"
    with huge.open("wb") as sparse:  # not written out: the size alone is refused, the file never read
        sparse.truncate(ATTACHMENT_SIZE_LIMIT + 1)
    with pytest.raises(CommandInputError, match="too large"):
        await emu.send_command(f"/fetch file:{huge} name:x")
    with pytest.raises(CommandInputError, match="file is required"):
        await emu.send_command("/fetch name:x")
    with pytest.raises(CommandInputError, match="file must be a file"):
        await emu.send_command("/fetch name:x", options={"file": "123456789012345678"})
    with pytest.raises(CommandInputError, match="name is not a file option"):
        await emu.send_command("/fetch", files={"file": ("a.txt", b"a"), "name": ("b.txt", b"b")})
    with pytest.raises(ValueError, match="forge=True"):
        await emu.send_command("/inspect", options={"file": "1"}, resolved={"attachments": {}})
    assert emu.files == {} and emu.interactions == {}  # nothing was sent, nothing stored


async def test_a_forged_attachment_may_point_anywhere(emu: Emulator, client: FilesClient) -> None:
    elsewhere = "https://evil.example/attachments/1/123/lore.txt"
    forged = {"id": "123", "filename": "lore.txt", "size": 5, "url": elsewhere, "proxy_url": elsewhere}
    sent = await emu.send_command("/inspect", options={"file": "123"},
                                  resolved={"attachments": {"123": forged}}, forge=True)
    assert (await sent.wait_reply(5)).content == f"lore.txt|5|{elsewhere}"
    # Forged, a file of any size is sent as given.
    big = await emu.send_command("/inspect", files={"file": ("big.bin", b"\0" * (ATTACHMENT_SIZE_LIMIT + 1))},
                                 forge=True)
    answer = (await big.wait_reply(5)).content
    assert answer.startswith(f"big.bin|{ATTACHMENT_SIZE_LIMIT + 1}|{emu.cdn_base}/")
    assert_clean(emu)


async def test_the_bots_own_uploads_are_served_and_kept_through_an_edit(
    emu: Emulator, client: FilesClient
) -> None:
    reply = await (await emu.send_command("/report", user="member")).wait_reply(5)
    attachment = reply.message["attachments"][0]
    place = f"{emu.cdn_base}/attachments/{emu.world.channel.id}/{attachment['id']}/report.txt?"
    assert attachment["url"].startswith(place)
    assert "ephemeral" not in attachment
    status, body, content_type = await download(attachment["url"])
    assert (status, body, content_type) == (200, LORE, "text/plain; charset=utf-8")
    assert emu.attachment_data(attachment) == LORE
    # An edit that names the attachment keeps it as it was.
    kept = (await client.saved[-1].original_response()).attachments
    await client.saved[-1].edit_original_response(content="edited", attachments=kept)
    edited = emu.message(reply.message["id"])
    assert edited["content"] == "edited" and edited["attachments"] == [attachment]
    assert_clean(emu)


async def test_the_cdn_serves_only_what_it_holds_and_records_no_rest_call(
    emu: Emulator, client: FilesClient
) -> None:
    sent = await emu.send_command("/inspect", files={"file": ("lore.txt", LORE)})
    await sent.wait_reply(5)
    url = next(iter(sent.payload["data"]["resolved"]["attachments"].values()))["url"]
    unsigned = url.split("?")[0]
    calls = len(emu.calls)
    assert (await download(unsigned))[:2] == (200, LORE)
    assert (await download(unsigned.replace("lore.txt", "other.txt")))[0] == 404
    assert (await download(f"{emu.cdn_base}/attachments/1/2/lore.txt"))[0] == 404
    assert (await download(f"{emu.cdn_base}/nothing"))[0] == 404
    assert (await download(url.replace("hm=", "hm=0")))[1] == b"This content is no longer available."
    async with aiohttp.ClientSession() as session, session.post(unsigned) as response:
        assert response.status == 405
    posted = emu.post_message("", attachments=[{"filename": "notes.md", "data": b"# notes"}])
    notes = await download(posted["attachments"][0]["url"])
    assert notes == (200, b"# notes", "text/markdown; charset=utf-8")
    emu.clock.advance(25 * 60 * 60)  # signed urls expire after a day
    assert (await download(url))[0] == 404 and (await download(unsigned))[0] == 200
    assert len(emu.calls) == calls  # CDN requests are not REST calls
    statuses = [request.status for request in emu.world.cdn.requests]
    assert statuses[-9:] == [200, 404, 404, 404, 404, 405, 200, 404, 200]
    assert_clean(emu)


async def test_a_deferred_private_answer_can_be_edited_for_fifteen_minutes(
    emu: Emulator, client: FilesClient
) -> None:
    sent = await emu.send_command("/progress", user="member")
    assert await sent.wait_ack(5) == 5
    interaction = client.saved[-1]
    for minute in range(0, 15, 2):  # minutes 0, 2, ..., 14 after the command
        emu.clock.advance(0 if minute == 0 else 120)
        await interaction.edit_original_response(content=f"step at minute {minute}")
        message = emu.message(sent.record.original["id"])
        assert message["content"] == f"step at minute {minute}"
        assert message["flags"] == 64  # ephemeral, and no longer loading
    assert sent.record.answers == 1  # the first edit answered; the others changed it
    emu.clock.advance(61)  # 15 min 1 s: the token is dead
    await client._guard(interaction.edit_original_response(content="too late"))
    assert await http_errors(client) == [(401, 50027)]
    assert emu.message(sent.record.original["id"])["content"] == "step at minute 14"
    await asyncio.sleep(0)
