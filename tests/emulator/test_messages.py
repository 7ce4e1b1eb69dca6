"""Messages, buttons, context menus and autocomplete, against the real discord.py client.

The client here answers with discord.ui Views and DynamicItems, a message context menu and
autocomplete callbacks, as a bot would; the emulator checks every call as Discord does.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import discord
import pytest
from discord import app_commands

from discord_emulator import CommandInputError, Emulator, NoResponse, UnknownMessage
from discord_emulator.render import render_message
from tests.emulator.harness import BareClient, assert_clean, connect_bare_client


class Again(discord.ui.DynamicItem[discord.ui.Button[Any]], template=r"again:(?P<n>\d+)"):
    """A button whose state lives in its custom_id: it works on any message, even after a restart."""

    def __init__(self, n: int) -> None:
        super().__init__(
            discord.ui.Button(label="Again", custom_id=f"again:{n}", style=discord.ButtonStyle.primary)
        )
        self.n = n

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Button[Any], match: re.Match[str]
    ) -> Again:
        return cls(int(match["n"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"again #{self.n}")


class PoemView(discord.ui.View):
    def __init__(self, client: ButtonsClient, n: int = 1) -> None:
        super().__init__(timeout=None)
        self.client = client
        self.add_item(Again(n))
        self.add_item(discord.ui.Button(label="Docs", url="https://example.com/docs"))

    async def _note(self, interaction: discord.Interaction) -> None:
        assert interaction.message is not None
        self.client.pressed.append((interaction.data or {}).get("custom_id", ""))
        self.client.pressed_on.append(interaction.message.id)

    @discord.ui.button(label="Continue", custom_id="continue")
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._note(interaction)
        assert interaction.message is not None
        await self.client._guard(
            interaction.response.edit_message(content=interaction.message.content + " more")
        )

    @discord.ui.button(label="Later", custom_id="later")
    async def later(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._note(interaction)
        await interaction.response.defer()
        await self.client._guard(interaction.edit_original_response(content="edited later", view=None))

    @discord.ui.button(label="Delete", custom_id="delete", style=discord.ButtonStyle.danger)
    async def remove(self, interaction: discord.Interaction, button: discord.ui.Button[Any]) -> None:
        await self._note(interaction)
        await interaction.response.defer()
        await self.client._guard(interaction.delete_original_response())


class ButtonsClient(BareClient):
    """BareClient plus replies with buttons, a message context menu and autocomplete."""

    def __init__(self, guild_id: int) -> None:
        self.pressed: list[str] = []
        self.pressed_on: list[int] = []
        self.seen_targets: list[discord.Message] = []
        super().__init__(guild_id)

    def _add_commands(self) -> None:
        super()._add_commands()
        tree = self.tree

        @tree.command(description="A poem with buttons under it.")
        async def poem(interaction: discord.Interaction, private: bool = False) -> None:
            await self._guard(
                interaction.response.send_message("Shall I", view=PoemView(self), ephemeral=private)
            )

        @tree.context_menu(name="Quote it")
        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            self.seen_targets.append(message)
            mentioned = ",".join(str(user.id) for user in message.mentions)
            await interaction.response.send_message(
                f"{message.author.id}|{message.content}|{mentioned}|{len(message.attachments)}",
                ephemeral=True,
            )
            assert isinstance(interaction.channel, discord.abc.Messageable)
            await self._guard(interaction.channel.send("quoting you", reference=message))

        fruits = ["apple", "apricot", "banana", "cherry"]

        @tree.command(description="Pick a fruit.")
        async def pick(interaction: discord.Interaction, fruit: str, count: int = 1) -> None:
            await interaction.response.send_message(f"{count} x {fruit}")

        @pick.autocomplete("fruit")
        async def fruit_choices(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[str]]:
            if current == "many":
                return [app_commands.Choice(name=f"fruit {n}", value=str(n)) for n in range(26)]
            if current == "long":
                return [app_commands.Choice(name="x" * 101, value="x")]
            if len(current) > 100:
                return [app_commands.Choice(name=f"{len(current)} characters typed", value=current[:100])]
            return [app_commands.Choice(name=name, value=name) for name in fruits if name.startswith(current)]

        @pick.autocomplete("count")
        async def count_choices(
            interaction: discord.Interaction, current: str
        ) -> list[app_commands.Choice[int]]:
            return [
                app_commands.Choice(name=f"{n} ({interaction.namespace.fruit})", value=n) for n in (1, 2, 3)
            ]

    async def setup_hook(self) -> None:
        self.add_dynamic_items(Again)
        await super().setup_hook()


@pytest.fixture
async def client(emu: Emulator) -> AsyncIterator[ButtonsClient]:
    async with connect_bare_client(emu, ButtonsClient) as bot:
        yield bot  # type: ignore[misc]



def assert_only_refused_requests_break_the_contract(emu: Emulator) -> None:
    """Bodies Discord refuses also break its published description; nothing else may, and no
    answer of the emulator may."""
    emu.contract_violations()
    for call in emu.calls:
        if call.contract_errors:
            assert call.status == 400, (str(call), call.contract_errors)
            assert all(error.startswith("request ") for error in call.contract_errors), call.contract_errors


def channel_of(client: ButtonsClient, emu: Emulator) -> discord.TextChannel:
    channel = client.get_channel(emu.world.channel.id)
    assert isinstance(channel, discord.TextChannel)
    return channel


async def test_a_reply_with_buttons_and_a_press_that_updates_it(emu: Emulator, client: ButtonsClient) -> None:
    reply = await (await emu.send_command("/poem", user="member")).wait_reply(5)
    rows = reply.message["components"]
    assert [row["type"] for row in rows] == [1]
    labels = [(button["label"], button.get("custom_id")) for button in rows[0]["components"]]
    assert labels == [
        ("Continue", "continue"),
        ("Later", "later"),
        ("Delete", "delete"),
        ("Again", "again:1"),
        ("Docs", None),
    ]
    ids = [rows[0]["id"], *(button["id"] for button in rows[0]["components"])]
    assert len(set(ids)) == len(ids) and all(isinstance(each, int) and each > 0 for each in ids)
    shown = render_message(reply.message, emu.world, "Member", "poem")
    assert shown.endswith("\u2502 Shall I\n\u2502 [Continue] [Later] [Delete] [Again] [Docs \u2197]")

    pressed = await emu.press(reply.message["id"], "continue", user="admin")
    payload = pressed.payload
    assert payload["type"] == 3 and payload["data"]["custom_id"] == "continue"
    assert payload["data"]["component_type"] == 2 and payload["message"]["id"] == reply.message["id"]
    assert payload["member"]["user"]["id"] == str(emu.world.user("admin").id)
    assert {"guild_id", "channel", "app_permissions", "locale", "token"} <= set(payload)
    updated = await pressed.wait_update(5)
    assert await pressed.wait_ack(1) == 7 and pressed.record.updates == 1
    assert updated["id"] == reply.message["id"] and updated["content"] == "Shall I more"
    assert updated["edited_timestamp"] is not None and updated["components"] == rows
    assert emu.message(reply.message["id"])["content"] == "Shall I more"
    assert client.pressed == ["continue"] and client.pressed_on == [int(reply.message["id"])]
    assert emu.rejected_calls() == []
    assert_clean(emu)


async def test_deferred_update_then_an_edit_of_original_changes_the_message(
    emu: Emulator, client: ButtonsClient
) -> None:
    reply = await (await emu.send_command("/poem")).wait_reply(5)
    pressed = await emu.press(reply.message["id"], "later")
    updated = await pressed.wait_update(5)
    assert pressed.record.callback_type == 6
    assert updated["content"] == "edited later" and updated["components"] == []
    assert not pressed.record.answered and pressed.record.visible_messages() == []
    [edit] = emu.recorder.find("PATCH /webhooks/*/messages/@original")
    assert edit.status == 200 and edit.response["id"] == reply.message["id"]
    with pytest.raises(CommandInputError, match="no button 'later'"):
        await emu.press(reply.message["id"], "later")
    assert_clean(emu)


async def test_a_dynamic_button_answers_with_a_new_message_replying_to_the_old(
    emu: Emulator, client: ButtonsClient
) -> None:
    reply = await (await emu.send_command("/poem")).wait_reply(5)
    pressed = await emu.press(reply.message["id"], "again:1")
    again = await pressed.wait_reply(5)
    message = again.message
    assert message["content"] == "again #1" and message["id"] != reply.message["id"]
    assert message["type"] == 19 and message["message_reference"]["message_id"] == reply.message["id"]
    assert message["referenced_message"]["content"] == "Shall I"
    assert message["interaction_metadata"]["type"] == 3
    assert message["interaction_metadata"]["interacted_message_id"] == reply.message["id"]
    assert "replying to Test App: Shall I" in render_message(message, emu.world, "Member", "poem")
    assert [each["id"] for each in emu.channel_messages()] == [reply.message["id"], message["id"]]
    assert_clean(emu)


async def test_a_delete_button_deletes_the_message_and_presses_on_it_are_refused_unless_forged(
    emu: Emulator, client: ButtonsClient
) -> None:
    reply = await (await emu.send_command("/poem")).wait_reply(5)
    message_id = reply.message["id"]
    pressed = await emu.press(message_id, "delete")
    await pressed.wait_deleted(5)
    with pytest.raises(UnknownMessage, match="deleted"):
        await pressed.wait_update(1)
    with pytest.raises(UnknownMessage, match="was deleted"):
        emu.message(message_id)
    assert emu.channel_messages() == []
    with pytest.raises(CommandInputError, match="was deleted"):
        await emu.press(message_id, "continue")

    # Forged: the DynamicItem still answers (its state is in the custom_id), replying to nothing.
    forged = await emu.press(message_id, "again:7", forge=True)
    answer = await forged.wait_reply(5)
    assert answer.content == "again #7" and answer.message["referenced_message"] is None
    # A View button of an unknown message: discord.py finds no view and never answers.
    unknown = await emu.press(123456789012345678, "continue", forge=True)
    assert unknown.payload["message"]["id"] == "123456789012345678"
    emu.clock.advance(emu.rules.ack_window + 0.5)
    with pytest.raises(NoResponse):
        await unknown.wait_ack(1)
    assert_clean(emu)


async def test_presses_discords_client_could_not_make(emu: Emulator, client: ButtonsClient) -> None:
    private = await (await emu.send_command("/poem private:true", user="member")).wait_reply(5)
    assert private.ephemeral
    with pytest.raises(CommandInputError, match="ephemeral"):
        await emu.press(private.message["id"], "continue", user="admin")
    with pytest.raises(CommandInputError, match="link button"):
        await emu.press(private.message["id"], "https://example.com/docs", user="member")
    with pytest.raises(CommandInputError, match="no button 'nope'"):
        await emu.press(private.message["id"], "nope", user="member")
    with pytest.raises(CommandInputError, match="does not exist"):
        await emu.press(42, "continue")
    # Its owner can: an ephemeral message is updated in place too.
    updated = await (await emu.press(private.message["id"], "continue", user="member")).wait_update(5)
    assert updated["content"] == "Shall I more" and updated["flags"] & 64
    assert_clean(emu)


async def test_a_message_context_menu_on_a_persons_message_and_the_reply_it_posts(
    emu: Emulator, client: ButtonsClient
) -> None:
    member, channel = emu.world.user("member"), emu.world.channel
    text = f"Hey <@{member.id}>, see <#{channel.id}> <:blob:123456789012345678> https://example.com **bold**"
    posted = emu.post_message(text, user="admin")
    assert posted["content"] == text and posted["author"]["id"] == str(emu.world.user("admin").id)
    assert [user["id"] for user in posted["mentions"]] == [str(member.id)] and posted["type"] == 0
    assert emu.calls[-1].route != "/channels/{channel_id}/messages"  # a person's act, not a bot call

    sent = await emu.send_message_command("Quote it", posted["id"], user="member")
    data = sent.payload["data"]
    assert data["type"] == 3 and data["target_id"] == posted["id"]
    assert data["resolved"]["messages"][posted["id"]]["content"] == text
    reply = await sent.wait_reply(5)
    assert reply.content == f"{emu.world.user('admin').id}|{text}|{member.id}|0" and reply.ephemeral
    assert (
        reply.message["type"] == 23
        and reply.message["interaction_metadata"]["target_message_id"] == posted["id"]
    )
    assert reply.message["message_reference"]["message_id"] == posted["id"]

    # The client's channel.send(reference=message): a reply, type 19, pinging the author.
    for _ in range(100):
        if len(emu.channel_messages()) == 3:
            break
        await asyncio.sleep(0.02)
    assert client.errors == []
    quoting = emu.channel_messages()[-1]
    assert quoting["content"] == "quoting you" and quoting["type"] == 19
    assert quoting["message_reference"] == {
        "type": 0,
        "channel_id": str(channel.id),
        "message_id": posted["id"],
        "guild_id": str(emu.world.guild.id),
    }
    assert quoting["referenced_message"]["id"] == posted["id"]
    assert [user["id"] for user in quoting["mentions"]] == [str(emu.world.user("admin").id)]
    assert "\u21aa replying to Admin: Hey @Member, see" in render_message(quoting, emu.world)

    image = emu.post_message("", attachments=[{"filename": "cat.png", "size": 2048}], user="member")
    assert image["attachments"][0]["content_type"] == "image/png"
    await (await emu.send_message_command("Quote it", image["id"])).wait_reply(5)
    assert (
        client.seen_targets[-1].content == "" and client.seen_targets[-1].attachments[0].filename == "cat.png"
    )
    assert_clean(emu)


async def test_message_commands_discords_client_could_not_send(emu: Emulator, client: ButtonsClient) -> None:
    posted = emu.post_message("hello")
    with pytest.raises(CommandInputError, match="No message command 'Quote that'.*'Quote it'"):
        await emu.send_message_command("Quote that", posted["id"])
    with pytest.raises(CommandInputError, match="does not exist"):
        await emu.send_message_command("Quote it", 999999999999999999)
    with pytest.raises(CommandInputError, match="is in the guild"):
        await emu.send_message_command("Quote it", posted["id"], guild=False)
    dm = emu.post_message("in a DM", guild=False, user="member")
    reply = await (await emu.send_message_command("Quote it", dm["id"], guild=False)).wait_reply(5)
    assert reply.content.endswith("|in a DM||0")
    assert "Quote it" in emu.commands.names(None, kind=3) and "Quote it" not in emu.commands.names(None)


async def test_channel_messages_posted_fetched_edited_and_deleted_by_the_bot(
    emu: Emulator, client: ButtonsClient
) -> None:
    channel = channel_of(client, emu)
    own = await channel.send("first", view=PoemView(client, 2))
    stored = emu.message(own.id)
    assert stored["type"] == 0 and "webhook_id" not in stored
    assert [button["label"] for button in stored["components"][0]["components"]][3:4] == ["Again"]
    assert (await channel.fetch_message(own.id)).content == "first"
    edited = await own.edit(content="first, edited")
    assert edited.content == "first, edited" and emu.message(own.id)["edited_timestamp"] is not None

    # A button on a channel message: the View is tracked by its message id.
    pressed = await emu.press(own.id, "continue")
    assert (await pressed.wait_update(5))["content"] == "first, edited more"

    person = emu.post_message("a person's words")
    fetched = await channel.fetch_message(int(person["id"]))
    assert fetched.content == ""  # no Message Content intent: others' content is not readable
    mentioning = emu.post_message(f"<@{emu.world.bot.id}> hi")
    assert (await channel.fetch_message(int(mentioning["id"]))).content == f"<@{emu.world.bot.id}> hi"
    with pytest.raises(discord.Forbidden) as forbidden:
        await fetched.edit(content="not yours")
    assert forbidden.value.code == 50005
    with pytest.raises(discord.Forbidden) as denied:
        await fetched.delete()  # the bot's role has no Manage Messages
    assert denied.value.code == 50013
    with pytest.raises(discord.NotFound) as unknown:
        await channel.fetch_message(123456789012345678)
    assert unknown.value.code == 10008

    await own.delete()
    with pytest.raises(discord.NotFound):
        await channel.fetch_message(own.id)
    assert [message["id"] for message in emu.channel_messages()] == [person["id"], mentioning["id"]]
    with pytest.raises(discord.HTTPException) as missing:
        await channel.send(
            "to nothing", reference=discord.MessageReference(message_id=own.id, channel_id=channel.id)
        )
    assert missing.value.code == 50035 and "In message_reference: Unknown message" in str(missing.value)
    assert emu.rejected_calls()[-1].response["errors"]["message_reference"]["_errors"][0]["code"] == (
        "MESSAGE_REFERENCE_UNKNOWN_MESSAGE"
    )
    plain = await channel.send(
        "to nothing",
        reference=discord.MessageReference(
            message_id=own.id, channel_id=channel.id, fail_if_not_exists=False
        ),
    )
    assert plain.type is discord.MessageType.default and plain.reference is None
    assert_clean(emu)


async def test_buttons_are_checked_as_discord_checks_them(emu: Emulator, client: ButtonsClient) -> None:
    channel = channel_of(client, emu)

    def button(custom_id: str | None, **extra: Any) -> dict[str, Any]:
        return {"type": 2, "style": 1, "label": "b", "custom_id": custom_id, **extra}

    async def send(components: list[dict[str, Any]]) -> discord.HTTPException:
        params = discord.http.MultipartParameters({"content": "x", "components": components}, None, None)
        with pytest.raises(discord.HTTPException) as refused:
            await client.http.send_message(channel.id, params=params)
        assert refused.value.status == 400 and refused.value.code == 50035
        return refused.value

    six = [{"type": 1, "components": [button(f"b{n}") for n in range(6)]}]
    assert "components.0.components: Must be between 1 and 5 in length." in str(await send(six))
    rows = [{"type": 1, "components": [button(f"r{n}")]} for n in range(6)]
    assert "components: Must be 5 or fewer in length." in str(await send(rows))
    long_label = [{"type": 1, "components": [button("a", label="x" * 81)]}]
    assert "components.0.components.0.label: Must be 80 or fewer" in str(await send(long_label))
    long_id = [{"type": 1, "components": [button("x" * 101)]}]
    assert "components.0.components.0.custom_id: Must be between 1 and 100" in str(await send(long_id))
    no_id = [{"type": 1, "components": [{"type": 2, "style": 3, "label": "b"}]}]
    assert "A custom id is required" in str(await send(no_id))
    link_with_id = [{"type": 1, "components": [button("a", style=5, url="https://example.com")]}]
    assert "components.0.components.0.custom_id" in str(await send(link_with_id))
    link_without_url = [{"type": 1, "components": [{"type": 2, "style": 5, "label": "b"}]}]
    assert "A url is required" in str(await send(link_without_url))

    # Duplicate custom ids, through a discord.py View (which does not check them itself).
    view = discord.ui.View()
    view.add_item(discord.ui.Button(label="one", custom_id="same"))
    view.add_item(discord.ui.Button(label="two", custom_id="same"))
    with pytest.raises(discord.HTTPException) as duplicated:
        await channel.send("twins", view=view)
    assert "components.0.components.1.custom_id: Component custom id was already specified" in str(
        duplicated.value
    )
    assert emu.channel_messages() == []
    assert_only_refused_requests_break_the_contract(emu)


async def test_callback_types_each_interaction_allows(emu: Emulator, client: ButtonsClient) -> None:
    async def answer(sent: Any, body: dict[str, Any]) -> tuple[int, Any]:
        url = f"{emu.api_base}/interactions/{sent.id}/{sent.record.token}/callback"
        async with aiohttp.ClientSession() as session, session.post(url, json=body) as response:
            return response.status, await response.json() if response.status != 204 else None

    command = await emu.send_command("/late")  # the client waits: the test answers for it
    for kind in (6, 7, 8):
        status, body = await answer(command, {"type": kind, "data": {"content": "x", "choices": []}})
        assert (
            status == 400
            and body["errors"]["type"]["_errors"][0]["code"] == "INTERACTION_CALLBACK_TYPE_INVALID"
        )
    assert [error["code"] for error in command.record.refused] == [50035] * 3
    client.release.set()
    assert (await command.wait_reply(5)).content == "finally"

    reply = await (await emu.send_command("/poem")).wait_reply(5)
    payload = emu.component_payload(reply.message["id"], "continue")
    payload["data"]["custom_id"] = "unhandled"  # no item of the client: the test answers
    component = await emu.send_raw_interaction(payload)
    status, _ = await answer(component, {"type": 8, "data": {"choices": []}})
    assert status == 400
    twins = {"type": 2, "style": 2, "label": "twin", "custom_id": "twin"}
    row = {"type": 1, "components": [twins, twins]}
    status, body = await answer(component, {"type": 4, "data": {"content": "x", "components": [row]}})
    assert status == 400 and "COMPONENT_CUSTOM_ID_DUPLICATED" in str(body["errors"])
    status, body = await answer(component, {"type": 7, "data": {"content": "by hand"}})
    assert status == 204 and emu.message(reply.message["id"])["content"] == "by hand"
    assert (await component.wait_update(1))["content"] == "by hand"


async def test_autocomplete_round_trip(emu: Emulator, client: ButtonsClient) -> None:
    assert await emu.autocomplete("/pick fruit:ap") == [
        {"name": "apple", "value": "apple"},
        {"name": "apricot", "value": "apricot"},
    ]
    sent = await emu.autocomplete_interaction("/pick fruit:cherry count:2")
    options = sent.payload["data"]["options"]
    assert options == [
        {"name": "fruit", "type": 3, "value": "cherry"},
        {"name": "count", "type": 4, "value": "2", "focused": True},  # partial text: a string
    ]
    assert await sent.wait_ack(5) == 8
    assert sent.record.autocomplete_choices == [{"name": f"{n} (cherry)", "value": n} for n in (1, 2, 3)]
    with pytest.raises(CommandInputError, match="text has no autocomplete"):
        await emu.autocomplete("/echo text:hel")
    with pytest.raises(CommandInputError, match="count must be a whole number"):
        await emu.autocomplete("/pick count:two fruit:a")
    # Never a follow-up on an autocomplete's token.
    url = f"{emu.api_base}/webhooks/{emu.world.application_id}/{sent.record.token}?wait=true"
    async with aiohttp.ClientSession() as session, session.post(url, json={"content": "x"}) as answer:
        assert answer.status == 404 and (await answer.json())["code"] == 10015
    assert_clean(emu)


async def test_autocomplete_answers_beyond_discords_limits_are_refused(
    emu: Emulator, client: ButtonsClient
) -> None:
    with pytest.raises(NoResponse, match="BASE_TYPE_MAX_LENGTH"):
        await emu.autocomplete("/pick fruit:many")
    with pytest.raises(NoResponse, match="BASE_TYPE_BAD_LENGTH"):
        await emu.autocomplete("/pick fruit:long")
    refused = [call.response for call in emu.rejected_calls()]
    assert refused[0]["errors"] == {
        "data": {
            "choices": {
                "_errors": [{"code": "BASE_TYPE_MAX_LENGTH", "message": "Must be 25 or fewer in length."}]
            }
        }
    }
    assert (
        refused[1]["errors"]["data"]["choices"]["0"]["name"]["_errors"][0]["code"] == "BASE_TYPE_BAD_LENGTH"
    )

    # A hand-made payload: a 10,000-character partial value, which Discord's client never sends.
    parsed = await emu.autocomplete_interaction("/pick fruit:a")
    await parsed.wait_ack(5)
    payload = emu.interaction_payload(parsed.payload["data"], user="member", kind=4)
    payload["data"]["options"][0]["value"] = "y" * 10_000
    huge = await emu.send_raw_interaction(payload)
    assert await huge.wait_ack(5) == 8
    assert huge.record.autocomplete_choices == [{"name": "10000 characters typed", "value": "y" * 100}]
    assert huge.record.callback_data == {"choices": huge.record.autocomplete_choices}
    assert_only_refused_requests_break_the_contract(emu)


async def test_context_menu_definitions_follow_discords_rules(emu: Emulator) -> None:
    url = f"{emu.api_base}/applications/{emu.world.application_id}/commands"
    headers = {"Authorization": f"Bot {emu.world.token}"}
    cases = [
        (
            [{"name": "Quote it", "type": 3, "description": "no"}],
            "APPLICATION_COMMAND_CONTEXT_MENU_DESCRIPTION_INVALID",
        ),
        (
            [{"name": "Quote it", "type": 3, "options": [{"type": 3, "name": "x", "description": "x"}]}],
            "APPLICATION_COMMAND_CONTEXT_MENU_OPTIONS_INVALID",
        ),
        (
            [{"name": "Quote it", "type": 3}, {"name": "Quote it", "type": 3}],
            "APPLICATION_COMMANDS_DUPLICATE_NAME",
        ),
        (
            [
                {
                    "name": "x",
                    "description": "x",
                    "options": [{"type": 5, "name": "flag", "description": "x", "autocomplete": True}],
                }
            ],
            "APPLICATION_COMMAND_AUTOCOMPLETE_INVALID",
        ),
    ]
    async with aiohttp.ClientSession(headers=headers) as session:
        for body, code in cases:
            async with session.put(url, json=body) as answer:
                assert answer.status == 400 and code in await answer.text()
        accepted = [
            {"name": "Quote it", "type": 3, "description": ""},
            {"name": "quote", "type": 1, "description": "q"},
            {"name": "Wave at", "type": 2},
        ]
        async with session.put(url, json=accepted) as answer:
            stored = await answer.json()
    assert [(each["type"], each["name"], each["description"]) for each in stored] == [
        (3, "Quote it", ""),
        (1, "quote", "q"),
        (2, "Wave at", ""),
    ]
    assert "options" not in stored[0] and stored[1]["options"] == []
    assert emu.commands.names(None) == ["quote"] and emu.commands.names(None, kind=3) == ["Quote it"]
    assert emu.contract_violations() == []


async def test_the_bot_writes_in_a_dm_and_people_render_without_the_app_tag(
    emu: Emulator, client: ButtonsClient
) -> None:
    member = emu.world.user("member")
    dm = await client.create_dm(discord.Object(member.id))
    sent = await dm.send("hello in private", view=PoemView(client, 3))
    assert emu.message(sent.id)["channel_id"] == str(emu.world.dm_channel(member).id)
    pressed = await emu.press(sent.id, "continue", user="member")
    assert "guild_id" not in pressed.payload and pressed.payload["user"]["id"] == str(member.id)
    assert (await pressed.wait_update(5))["content"] == "hello in private more"
    with pytest.raises(CommandInputError, match="another person's DM"):
        await emu.press(sent.id, "continue", user="admin")
    with pytest.raises(discord.Forbidden) as refused:  # in a DM only one's own messages go
        await (await dm.fetch_message(int(emu.post_message("mine", guild=False)["id"]))).delete()
    assert refused.value.code == 50003

    posted = emu.post_message("**look**", attachments=[{"filename": "a.txt"}], user="admin")
    shown = render_message(posted, emu.world)
    assert shown == "Admin\n\u2502 look\n\u2502 \U0001f4ce a.txt"
    assert_clean(emu)
