"""`python -m bot --local`: the bot against a local Discord, driven from a prompt.

No token and no network: the emulator listens on loopback, the bot runs as `python -m bot` pointed
at it, and each line typed here is sent as if typed into Discord's client. Lines come from stdin,
so a pipe works too: `printf '/about\\n' | python -m bot --local`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import threading
from pathlib import Path
from typing import Any, TextIO

from discord_emulator.errors import CommandHiddenError, CommandInputError, NoResponse, UnknownMessage
from discord_emulator.kinds import DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE
from discord_emulator.messages import EPHEMERAL, LOADING
from discord_emulator.models import MANAGE_GUILD, Cast, Channel, Guild
from discord_emulator.process import BotExited, BotProcess
from discord_emulator.render import render_message
from discord_emulator.sent import SentInteraction
from discord_emulator.server import Emulator

DEFAULT_DB = Path("data/playground.sqlite3")
DEFAULT_FILES = DEFAULT_DB.with_name("playground-files")  # attachments the bot sent, to open
MESSAGE_COMMAND = 3  # the application command type of a message context menu
# The emulated world as this bot's players meet it; the emulator itself only has neutral names.
BOT_CAST = Cast(app="Shakespeare", description="A character-level Shakespeare generator.",
                guild="The Globe", channel="stage", moderators="Stage Managers", admin="Prospero",
                member="Miranda")
# The bot's own command line, run as a child process against the emulator.
BOT_COMMAND = (sys.executable, "-m", "bot")
# Set for a real deployment; a bot driven against the emulator runs one shard of its own.
DEPLOYMENT_ONLY = ("DEV_GUILD_ID", "SHARD_COUNT", "SHARD_IDS", "BOT_HEARTBEAT_PATH")


def emulated_bot_env(db_path: Path, checkpoint_dir: Path, log_level: str = "INFO") -> dict[str, str]:
    """The environment of a bot process run against the emulator (tests, benches): its own
    database, the given checkpoints, the CPU; BotProcess adds the emulator's address and token."""
    env = {key: value for key, value in os.environ.items() if key not in DEPLOYMENT_ONLY}
    env.update(BOT_DB_PATH=str(db_path), CHECKPOINT_DIR=str(checkpoint_dir), DEVICE="cpu",
               LOG_LEVEL=log_level)
    return env


@contextlib.asynccontextmanager
async def emulated_bot_process(checkpoint_dir: Path, folder: Path, ready_timeout: float = 300,
                               extra_env: dict[str, str] | None = None):
    """An emulator (no contract checks: benches measure the bot) with the bot connected to it as a
    child process; stopped with SIGTERM at the end. Yields (the emulator, the bot's process)."""
    async with Emulator(cast=BOT_CAST, validate=False) as emu:
        env = {**emulated_bot_env(folder / "bot.sqlite3", checkpoint_dir, "WARNING"), **(extra_env or {})}
        bot = BotProcess(emu, BOT_COMMAND, env, folder / "bot.log")
        await bot.start()
        try:
            await bot.wait_ready(ready_timeout)
            yield emu, bot
        finally:
            await bot.stop()


@contextlib.asynccontextmanager
async def emulated_bot(checkpoint_dir: Path, folder: Path, ready_timeout: float = 300):
    """emulated_bot_process, yielding the emulator only."""
    async with emulated_bot_process(checkpoint_dir, folder, ready_timeout) as (emu, _):
        yield emu
AWAY_GUILD = "The Rose"  # the playground's server without the bot, for user installs
READY_TIMEOUT = 180.0
REPLY_TIMEOUT = 300.0
PLAYGROUND_HELP = """\
Type a command as you would in Discord, e.g. /shakespeare seed:ROMEO: temp:0.8
Playground lines:
  /as NAME               be NAME from now on (admin, member, owner)
  /as NAME /command ...  send one command as NAME
  /dm /command ...       send one command in a direct message with the bot
  /install [off]         add the bot to your own account (a user install), or remove it
  /away /command ...     send one command in The Rose, a server that never added the bot
                         (only your own install of it reaches there)
  /group /command ...    send one command in a group DM of yours (your own install again)
  /users                 who is here, and who may manage the server
  /say TEXT              post a message of your own (it gets a number too)
  /press N LABEL         press a button under message #N, e.g. /press 2 continue
  /apps N [NAME]         right-click message #N -> Apps -> NAME (default: the bot's only one)
  /locale ko|en          your Discord client's language (the bot answers in Korean or English)
  /complete /COMMAND ... the suggestions Discord shows while you type the last option,
                         e.g. /complete /shakespeare seed:RO
  /help                  this help and the bot's commands
  /quit                  stop the bot and leave"""


class Playground:
    """Turns typed lines into interactions and prints what Discord would show."""

    def __init__(self, emulator: Emulator, out: TextIO, reply_timeout: float = REPLY_TIMEOUT,
                 files_dir: Path = DEFAULT_FILES) -> None:
        self.emu = emulator
        self.out = out
        self.user = "admin"
        self.reply_timeout = reply_timeout
        self._reported_calls = 0
        self._numbers: dict[str, int] = {}  # message id -> the number shown under it
        self.files_dir = files_dir  # where attachments the bot sends are written, to be opened
        self._away: Guild | None = None
        self._group: Channel | None = None

    @property
    def away(self) -> Guild:
        """The server that never added the bot, made when first visited (everyone is in it)."""
        if self._away is None:
            self._away = self.emu.world.add_guild(AWAY_GUILD, with_bot=False)
        return self._away

    @property
    def group(self) -> Channel:
        if self._group is None:
            world = self.emu.world
            self._group = world.group_dm(*[name for name in world.users if name != "owner"], name="the cast")
        return self._group

    def say(self, text: str) -> None:
        print(text, file=self.out, flush=True)

    async def handle(self, line: str, *, user: str | None = None, guild: bool = True,
                     where: str | None = None) -> bool:
        """Act on one line; False once the person asked to leave. `where` is "away" (the server
        without the bot) or "group" (a group DM) for lines sent through /away and /group."""
        line = line.strip()
        word, _, rest = line.partition(" ")
        if not line:
            return True
        if word in ("/quit", "/exit"):
            return False
        if word == "/help":
            self.say(self._help())
        elif word == "/users":
            self.say(self._users())
        elif word == "/as":
            name, _, command = rest.strip().partition(" ")
            if name not in self.emu.world.users:
                self.say(f"No user {name!r}; try one of: {', '.join(self.emu.world.users)}.")
            elif command.strip():
                return await self.handle(command, user=name, guild=guild, where=where)
            else:
                self.user = name
                self.say(f"You are now {name}.")
        elif word == "/dm":
            return await self.handle(rest, user=user, guild=False)
        elif word in ("/away", "/group"):
            return await self.handle(rest, user=user, guild=word == "/away", where=word[1:])
        elif word == "/install":
            person = self.emu.world.install_for(user or self.user, installed=rest.strip().lower() != "off")
            added = person.id in self.emu.world.user_installs
            self.say(f"{person.display_name} {'added the bot to' if added else 'removed the bot from'} "
                     "their own account." + (" Try /away /shakespeare." if added else ""))
        elif word == "/say":
            posted = self.emu.post_message(rest, user=user or self.user, guild=guild,
                                           guild_id=self.away.id if where == "away" else None)
            self.say(self._show(posted))
        elif word == "/press":
            number, _, label = rest.strip().partition(" ")
            await self.press(number, label.strip(), user or self.user)
        elif word == "/apps":
            number, _, name = rest.strip().partition(" ")
            await self.apps(number, name.strip(), user or self.user, guild)
        elif word == "/locale":
            chosen = {"ko": "ko", "en": "en-US"}.get(rest.strip().lower())
            if chosen is None:
                self.say("Say /locale ko or /locale en.")
            else:
                person = self.emu.world.user(user or self.user)
                person.locale = chosen
                self.say(f"{person.display_name}'s Discord now speaks {chosen}.")
        elif word == "/complete":
            await self.complete(rest.strip(), user or self.user, guild)
        else:
            await self.send(line, user or self.user, guild, where)
        return True

    async def send(self, command: str, user: str, guild: bool, where: str | None = None) -> None:
        place: dict[str, Any] = {"guild": guild}
        if where == "away":
            place["guild_id"] = self.away.id
        elif where == "group":
            place.update(guild=False, channel=self.group)
        try:
            sent = await self.emu.send_command(command, user=user, **place)
        except CommandHiddenError as hidden:
            self.say(
                f"(Discord: {hidden} A server admin can allow it in Integrations; sending it anyway, "
                "so you see what the bot does.)"
            )
            sent = await self.emu.send_command(command, user=user, forge=True, **place)
        except CommandInputError as refused:
            self.say(f"Discord: {refused}")
            return
        invoker = self.emu.world.user(user).display_name
        name = _command_path(sent.payload["data"])
        try:
            acknowledged = await sent.wait_ack(self.emu.rules.ack_window + 1)
            if acknowledged == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
                self.say(f"({self.emu.world.bot.display_name} is thinking\u2026)")
            reply = await sent.wait_reply(self.reply_timeout)
        except NoResponse:
            self.say("\u2716 The application did not respond")
        except TimeoutError as waited:
            self.say(f"\u2716 No reply yet: {waited}")
        else:
            for message in reply.messages:
                self.say(self._show(message, invoker, name))
        self._report_problems()

    def _show(self, message: dict[str, Any], invoker: str | None = None, command: str | None = None,
              note: str = "") -> str:
        """A message as Discord shows it, with the number the playground's lines refer to it by."""
        number = self._numbers.setdefault(message["id"], len(self._numbers) + 1)
        saved = "".join(f"\n\u2502 (saved to {path})" for path in self._save_files(message))
        return f"{render_message(message, self.emu.world, invoker, command)}{saved}\n\u2570 #{number}{note}"

    def _save_files(self, message: dict[str, Any]) -> list[Path]:
        paths = []
        for attachment in message.get("attachments") or []:
            try:
                data = self.emu.attachment_data(attachment)
            except UnknownMessage:  # a file someone else's client had, not one the bot uploaded
                continue
            self.files_dir.mkdir(parents=True, exist_ok=True)
            path = self.files_dir / f"{attachment['id']}-{Path(attachment['filename']).name}"
            path.write_bytes(data)
            paths.append(path)
        return paths

    def _message_id(self, number: str) -> str | None:
        found = next((key for key, shown in self._numbers.items() if str(shown) == number.lstrip("#")), None)
        if found is None:
            self.say(f"No message #{number.lstrip('#')}; the numbers are under each message.")
        return found

    async def press(self, number: str, label: str, user: str) -> None:
        message_id = self._message_id(number)
        if message_id is None:
            return
        try:
            message = self.emu.message(message_id)
        except UnknownMessage:
            self.say(f"Message #{number.lstrip('#')} was deleted.")
            return
        # By label in any case, a question mark optional ("/press 2 why" presses Why?).
        buttons = {button.get("label", "").casefold().rstrip("?"):
                   button.get("custom_id") or button.get("url", "")
                   for row in message.get("components") or [] for button in row.get("components") or []}
        label = label.rstrip("?")
        if label.casefold() not in buttons:
            shown = ", ".join(buttons) or "none"
            self.say(f"Message #{number.lstrip('#')} has no button {label!r} (its buttons: {shown}).")
            return
        try:
            sent = await self.emu.press(message_id, buttons[label.casefold()], user=user)
        except CommandInputError as refused:
            self.say(f"Discord: {refused}")
            return
        await self._show_outcome(sent, self.emu.world.user(user).display_name, f"pressed {label}")

    async def apps(self, number: str, name: str, user: str, guild: bool) -> None:
        message_id = self._message_id(number)
        if message_id is None:
            return
        guild_id = self.emu.world.guild.id if guild else None
        menus = self.emu.commands.names(guild_id, kind=MESSAGE_COMMAND)
        if not name and len(menus) == 1:
            name = menus[0]
        try:
            sent = await self.emu.send_message_command(name, message_id, user=user, guild=guild)
        except (CommandInputError, UnknownMessage) as refused:
            self.say(f"Discord: {refused} (the message commands here: {', '.join(menus) or 'none'})")
            return
        await self._show_outcome(sent, self.emu.world.user(user).display_name, f"used {name} on #{number}")

    async def complete(self, line: str, user: str, guild: bool) -> None:
        try:
            choices = await self.emu.autocomplete(line, user=user, guild=guild)
        except CommandInputError as refused:
            self.say(f"Discord: {refused}")
            return
        except (NoResponse, TimeoutError):
            self.say("\u2716 No suggestions came (the application did not answer in time)")
            return
        if not choices:
            self.say("(no suggestions)")
        for choice in choices:
            self.say(f"  {choice['name']}" if choice["name"] == str(choice["value"])
                     else f"  {choice['name']} = {choice['value']}")
        self._report_problems()

    async def _show_outcome(self, sent: SentInteraction, invoker: str, action: str) -> None:
        """What a press or a context menu changed: a new message, an edited or deleted one."""
        before = {message["id"] for message in self.emu.channel_messages(sent.record.channel_id)}
        record = sent.record
        try:
            acknowledged = await sent.wait_ack(self.emu.rules.ack_window + 1)
        except NoResponse:
            self.say("\u2716 The application did not respond")
            return
        if acknowledged == DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE:
            self.say(f"({self.emu.world.bot.display_name} is thinking\u2026)")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.reply_timeout
        target = record.target_message_id
        while loop.time() < deadline:
            new = [message for message in self.emu.channel_messages(record.channel_id)
                   if message["id"] not in before and not message["flags"] & LOADING
                   and (not message["flags"] & EPHEMERAL or message in record.visible_messages())]
            changed = record.updates > 0 or (target is not None and record.store.was_deleted(target))
            if new or changed or record.answered:
                break
            await asyncio.sleep(0.05)
        else:
            self.say(f"\u2716 Nothing changed within {self.reply_timeout:g} s")
            return
        await asyncio.sleep(0.05)  # an edit and a new message can come together
        self.say(f"({invoker} {action})")
        if target is not None and record.store.was_deleted(target):
            self.say(f"(message #{self._numbers.get(str(target), '?')} was deleted)")
        elif target is not None and record.updates:
            self.say(self._show(self.emu.message(target), note=" (edited)"))
        shown = set()
        for message in [*record.visible_messages(), *self.emu.channel_messages(record.channel_id)]:
            if message["id"] in before or message["id"] in shown or message["flags"] & LOADING:
                continue
            if message["flags"] & EPHEMERAL and message not in record.visible_messages():
                continue
            shown.add(message["id"])
            self.say(self._show(message))
        self._report_problems()

    def _report_problems(self) -> None:
        """What real Discord would have refused, shown as it happens: the point of playing locally."""
        calls = self.emu.calls
        self.emu.contract.check_pending()
        for call in calls[self._reported_calls :]:
            if call.status >= 400 and not call.injected:
                self.say(f"(Discord refused the bot's {call.method} {call.path}: {call.response})")
            for problem in call.contract_errors:
                self.say(f"(Not in Discord's published API: {problem})")
        self._reported_calls = len(calls)

    def _help(self) -> str:
        lines = [PLAYGROUND_HELP]
        menus = self.emu.commands.names(self.emu.world.guild.id, kind=MESSAGE_COMMAND)
        if menus:
            lines.append(f"The bot's message commands (/apps): {', '.join(menus)}")
        lines.append("The bot's commands:")
        for name in self.emu.commands.names(self.emu.world.guild.id):
            definition = self.emu.commands.find(name, self.emu.world.guild.id)
            assert definition is not None
            lines.append(f"  /{name}: {definition['description']}")
            for option in definition["options"]:
                lines.append(f"      {_describe_option(option)}")
        return "\n".join(lines)

    def _users(self) -> str:
        guild = self.emu.world.guild
        lines = []
        for name, user in self.emu.world.users.items():
            manages = guild.permissions_of(user.id) & MANAGE_GUILD
            role = "may manage the server" if manages else "plain member"
            marker = " (you)" if name == self.user else ""
            lines.append(f"  {name}: {user.display_name}, {role}{marker}")
        return "\n".join(lines)


def _command_path(data: dict[str, Any]) -> str:
    """"settings temperature" for /settings temperature value:1.2."""
    names = [data["name"]]
    options = data.get("options") or []
    while options and options[0].get("type") in (1, 2):
        names.append(options[0]["name"])
        options = options[0].get("options") or []
    return " ".join(names)


def _describe_option(option: dict[str, Any]) -> str:
    """`seed:<text>` if required, `[temp:<number>]` if not; a subcommand lists its own options."""
    if option["type"] in (1, 2):
        inner = " ".join(_describe_option(child) for child in option.get("options") or [])
        return f"{option['name']} {inner}".rstrip()
    shown = f"{option['name']}:<{_KINDS.get(option['type'], 'value')}>"
    return shown if option.get("required") else f"[{shown}]"


_KINDS = {3: "text", 4: "integer", 5: "true/false", 6: "user", 7: "channel", 10: "number", 11: "file"}


class _StdinLines:
    """Lines of stdin, read on a daemon thread.

    A readline() blocked in the loop's default executor would make asyncio.run wait for Enter after
    Ctrl+C (it joins that executor on the way out); a daemon thread is simply left behind.
    """

    def __init__(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        threading.Thread(target=self._read, name="playground-stdin", daemon=True).start()

    def _read(self) -> None:
        while True:
            line = sys.stdin.readline()
            try:
                self._loop.call_soon_threadsafe(self._lines.put_nowait, line)
            except RuntimeError:  # the loop has closed: nobody is listening any more
                return
            if not line:
                return

    async def next(self, out: TextIO) -> str:
        """The next line ("" at the end); a piped line is echoed so the transcript reads well."""
        interactive = sys.stdin.isatty()
        if interactive:
            print("> ", end="", file=out, flush=True)
        line = await self._lines.get()
        if line and not interactive:
            print(f"> {line.rstrip()}", file=out, flush=True)
        return line


async def run_playground(out: TextIO = sys.stdout) -> int:
    """Start the emulator and the bot, then serve the prompt until /quit or end of input."""
    emulator = Emulator(cast=BOT_CAST)
    await emulator.start()
    db_path = Path(os.environ.get("BOT_DB_PATH") or DEFAULT_DB)
    env = {**os.environ, "BOT_DB_PATH": str(db_path)}
    bot = BotProcess(emulator, BOT_COMMAND, env, db_path.with_name("playground-bot.log"))
    print(f"Starting the bot against a local Discord (its log: {bot.log_path})...", file=out, flush=True)
    try:
        await bot.start()
        await bot.wait_ready(READY_TIMEOUT)
        playground = Playground(emulator, out, files_dir=db_path.with_name("playground-files"))
        guild = emulator.world.guild
        print(
            f"Connected. Server {guild.name!r}, channel #{emulator.world.channel.name}; you are "
            f"{playground.user}. Settings are kept in {db_path}. /help lists commands, /quit leaves.",
            file=out, flush=True,
        )
        lines = _StdinLines()
        while (line := await lines.next(out)) and await playground.handle(line):
            if bot.returncode is not None:
                raise BotExited(f"the bot exited with status {bot.returncode}:\n{bot.log_tail()}")
        return 0
    except (BotExited, TimeoutError, asyncio.TimeoutError) as failure:
        print(f"The bot is not serving: {failure}", file=out, flush=True)
        return 1
    finally:
        await bot.stop()
        await emulator.stop()


def main() -> int:
    """Entry point for `python -m bot --local`."""
    try:
        return asyncio.run(run_playground())
    except KeyboardInterrupt:
        return 130
