"""`python -m bot`: run the bot, or one of its other jobs (sync its commands, check its health, train
server voices, print its invite links, copy its database to PostgreSQL), or play with it offline.

The top of the bot's layers: it only parses the command line and calls the module that does each
job, importing it only when chosen (healthcheck and --help do not pay for loading torch)."""

from __future__ import annotations

import os

# Before torch loads: every thread but the engine's worker (which raises its own count for wide
# steps) runs one OpenMP thread. Another thread's OpenMP team - the one loading the checkpoints,
# say - otherwise competes with the worker's: 64 concurrent requests took 0.67 s instead of 0.48 s
# on the 2-core dev machine (measured). An OMP_NUM_THREADS set by the operator wins.
os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse  # noqa: E402
import asyncio  # noqa: E402
import sys  # noqa: E402
import textwrap  # noqa: E402

import discord

from bot import __version__
from bot.config import ENVIRONMENT, EXIT_CONFIG, BotConfig, ConfigError


def build_parser() -> argparse.ArgumentParser:
    variables = "\n".join(
        # A no-break space keeps "default:" with its value.
        textwrap.fill(f"{meaning} [default:\u00a0{default}]", width=100, initial_indent=f"  {name:<20} ",
                      subsequent_indent=" " * 23)
        for name, default, meaning in ENVIRONMENT
    )
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description=(
            "The Shakespeare Discord bot: /shakespeare (with Again, Continue and Delete buttons under\n"
            "each reply), 'Continue as Shakespeare' on any message, /settings, /preferences, /voice\n"
            "and /about.\n\n"
            "commands:\n"
            "  run          connect to Discord and serve until SIGTERM or SIGINT (the default)\n"
            "  sync         write the slash commands to Discord now; with --guild, to one server only\n"
            "               (at start the bot syncs by itself, and only when its commands changed)\n"
            "  healthcheck  exit 0 only if a running bot's heartbeat is fresh: it is connected and\n"
            "               can read its database (the container's HEALTHCHECK); for a trainer:\n"
            "               its loop still turns\n"
            "  trainer      train server voices queued in the database (the bot starts one itself\n"
            "               unless VOICE_TRAINER=off; run this on another host instead)\n"
            "  invite       print the links that add the bot to a server and to your own account\n"
            "               (the application ID comes from DISCORD_TOKEN, or give --client-id)\n"
            "  copy-to-postgres\n"
            "               before moving to DATABASE_URL: copy the settings, replies' buttons, voices\n"
            "               and voice jobs from BOT_DB_PATH and VOICES_DIR into that empty PostgreSQL\n"
            "               database, in one transaction (stop the bot first; docs/deploy.md)\n"
            "  stats        how often each shipped model fooled /guess players, over all servers"
        ),
        epilog=f"environment variables (configuration comes only from these):\n{variables}\n\n"
               "exit codes: 0 success, 1 unhealthy or self-test failed, 2 configuration to fix.",
    )
    parser.add_argument("command", nargs="?", choices=("run", "sync", "healthcheck", "trainer", "invite",
                                                     "copy-to-postgres", "stats"),
                        default="run", help="what to do (default: run)")
    parser.add_argument("--client-id", type=int, metavar="ID",
                        help="with invite: the application ID from the developer portal")
    parser.add_argument("--guild", type=int, metavar="ID",
                        help="with sync: sync to this server only, where commands appear at once")
    mode = parser.add_mutually_exclusive_group()
    mode.add_argument("--local", action="store_true",
                      help="no token needed: start a local Discord emulator and the bot, and type commands "
                           "at a prompt")
    mode.add_argument("--self-test", action="store_true",
                      help="run one /shakespeare and one admin /settings change against the real bot and an "
                           "in-process emulator; exit 0 only if both replies are right (uses the settings "
                           "database)")
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.guild is not None and args.command != "sync":
        parser.error("--guild only applies to `sync`.")
    if args.guild is not None and not 0 < args.guild < 2**64:
        parser.error("--guild must be a server ID, a whole number above 0.")
    if args.client_id is not None and (args.command != "invite" or not 0 < args.client_id < 2**64):
        parser.error("--client-id only applies to `invite`, and must be an application ID above 0.")
    if (args.local or args.self_test) and args.command != "run":
        parser.error("--local and --self-test cannot be combined with a command.")
    if args.local:
        from bot.devtools.playground import main as playground

        return playground()
    try:
        config = BotConfig.from_env()
        if args.command in ("run", "sync") and not args.self_test:
            config.require_token()
    except ConfigError as error:
        print(f"bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    if args.command == "invite":
        return print_invite(args.client_id, config.token)
    if args.command == "healthcheck":
        from bot.ops.health import check_heartbeat

        problem = check_heartbeat(config.heartbeat_file)
        print(problem or "healthy: the bot is connected and its heartbeat is fresh.")
        return 1 if problem else 0
    if args.command == "copy-to-postgres":
        from bot.storage.copy_to_postgres import copy_to_postgres

        return copy_to_postgres(config)
    if args.command == "stats":
        from bot.commands.guess_text import print_stats

        return asyncio.run(print_stats(config))
    from bot.ops.logs import formatter_options  # LOG_FORMAT=json: one JSON object per line

    discord.utils.setup_logging(level=config.log_level_number, **formatter_options(config.log_format))
    if args.command == "trainer":
        from bot.voices.trainer import run_trainer

        return run_trainer(config)
    # Imported here: loading torch takes seconds that healthcheck and --help should not pay.
    from bot.runtime.runner import run_bot, sync_command_set
    from charlm.training.allocator import return_large_blocks

    return_large_blocks()  # voices loaded and dropped give their memory back (see its docstring)

    try:
        if args.self_test:
            from bot.devtools.selftest import run_self_test

            return asyncio.run(run_self_test(config))
        if args.command == "sync":
            return asyncio.run(sync_command_set(config, args.guild))
        return asyncio.run(run_bot(config))
    except KeyboardInterrupt:  # Ctrl+C before the bot's own signal handling was installed
        return 130


def print_invite(client_id: int | None, token: str | None) -> int:
    from bot.ops.invite import InviteError, application_id_from_token, invite_text

    try:
        if client_id is None:
            if not token:
                raise InviteError("Give --client-id with the application ID from the developer portal, "
                                  "or set DISCORD_TOKEN to read it from the token.")
            client_id = application_id_from_token(token)
    except InviteError as error:
        print(f"bot: {error}", file=sys.stderr)
        return EXIT_CONFIG
    print(invite_text(client_id))
    return 0


if __name__ == "__main__":
    sys.exit(main())
