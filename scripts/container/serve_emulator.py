"""Serves the local Discord emulator until SIGTERM, for bot containers that share its network.

    podman run -d --name emu --network=none --entrypoint python IMAGE -c "$(cat serve_emulator.py)" [SHARDS]
    podman run -d --network=container:emu -e DISCORD_TOKEN=... IMAGE      (values from BOT_ENV below)

Prints `BOT_ENV {...}` (the variables that point a bot at it) once listening, then `READY` once
SHARDS shards (default 1, in any number of processes) have connected and the commands are synced,
or `NOT READY: <why>` after READY_TIMEOUT seconds.
The smoke test reads these lines from the container's log.
"""

from __future__ import annotations

import asyncio
import json
import signal
import sys

from discord_emulator import Emulator

READY_TIMEOUT = 240.0


async def serve(shards: int) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, stop.set)
    emulator = Emulator()
    await emulator.start()
    print("BOT_ENV", json.dumps(emulator.bot_env()), flush=True)
    try:
        try:
            await emulator.wait_until_ready(READY_TIMEOUT, identifies=shards)
            print("READY", flush=True)
        except TimeoutError as error:
            print(f"NOT READY: {error}", flush=True)
        await stop.wait()
    finally:
        await emulator.stop()


asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 1))
