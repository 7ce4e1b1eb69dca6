"""What the emulator's own tests share: a started emulator with neutral names and contract checks."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from discord_emulator import Emulator


@pytest.fixture
async def emu() -> AsyncIterator[Emulator]:
    emulator = Emulator()
    await emulator.start()
    yield emulator
    await emulator.stop()
