"""`python -m bot invite`: the two links that install the bot, to a server or to a person's account.

What the bot does needs one permission: every message it writes is an answer to an interaction
(a response or a follow-up, edited or deleted through the interaction's token), never a post in a
channel, and those need no channel permission; only a long text's `shakespeare.txt` needs Attach
Files. A server install adds the bot user (scope `bot`), whose role carries that permission, and
the commands (`applications.commands`); a user install can only add commands, and acts with the
person's own permissions wherever they use it.
"""

from __future__ import annotations

import base64
import binascii
from urllib.parse import urlencode

import discord

AUTHORIZE_URL = "https://discord.com/oauth2/authorize"
SERVER_PERMISSIONS = discord.Permissions(attach_files=True)
GUILD_INSTALL, USER_INSTALL = 0, 1


class InviteError(ValueError):
    """No application id to build the links from; the message says where to find one."""


def application_id_from_token(token: str) -> int:
    """The id a bot token starts with (base64 of the bot user's id, which is the application's id
    for every application made since 2016); InviteError if the token is not shaped like one."""
    head = token.split(".", 1)[0]
    try:
        decoded = base64.b64decode(head + "=" * (-len(head) % 4), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        decoded = ""
    if not decoded.isdigit():
        raise InviteError("DISCORD_TOKEN does not look like a bot token; pass --client-id with the "
                          "application ID from the developer portal instead.")
    return int(decoded)


def install_links(application_id: int) -> dict[str, str]:
    """{"server": ..., "user": ...}: Discord's authorize links for the two installation contexts."""
    server = {"client_id": application_id, "scope": "bot applications.commands",
              "permissions": SERVER_PERMISSIONS.value, "integration_type": GUILD_INSTALL}
    user = {"client_id": application_id, "scope": "applications.commands", "integration_type": USER_INSTALL}
    return {"server": f"{AUTHORIZE_URL}?{urlencode(server)}", "user": f"{AUTHORIZE_URL}?{urlencode(user)}"}


def invite_text(application_id: int) -> str:
    links = install_links(application_id)
    return (f"Add the bot to a server (its admins get /settings; it needs only Attach Files):\n"
            f"  {links['server']}\n"
            f"Add the bot to your own account (its commands follow you to DMs, group DMs and servers "
            f"without it):\n  {links['user']}\n"
            "Both install types must be enabled under Installation in the developer portal.")
