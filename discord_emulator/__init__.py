"""A local Discord (REST API and gateway over loopback) for offline play and end-to-end tests.

The real, unmodified discord.py client talks to it; see server.Emulator for the driver.
"""

from .errors import CommandHiddenError, CommandInputError, DiscordError, NoResponse, UnknownMessage
from .interactions import Rules
from .recorder import RecordedCall
from .sent import Reply, SentInteraction
from .server import Emulator

__all__ = [
    "CommandHiddenError",
    "CommandInputError",
    "DiscordError",
    "Emulator",
    "NoResponse",
    "RecordedCall",
    "Reply",
    "Rules",
    "SentInteraction",
    "UnknownMessage",
]
