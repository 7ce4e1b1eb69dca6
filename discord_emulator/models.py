"""The emulated Discord world: the application, users, guilds, channels and permissions.

Everything here serialises to the JSON shapes Discord itself sends (snowflakes as strings, explicit
nulls), because the real discord.py client parses these objects unmodified.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from .cdn import Cdn
from .clock import Clock, Snowflakes, iso
from .message_store import MessageStore

# Permission bits (https://discord.com/developers/docs/topics/permissions).
CREATE_INSTANT_INVITE = 1 << 0
MANAGE_GUILD = 1 << 5
ADD_REACTIONS = 1 << 6
VIEW_CHANNEL = 1 << 10
SEND_MESSAGES = 1 << 11
MANAGE_MESSAGES = 1 << 13
EMBED_LINKS = 1 << 14
ATTACH_FILES = 1 << 15
READ_MESSAGE_HISTORY = 1 << 16
MENTION_EVERYONE = 1 << 17
USE_EXTERNAL_EMOJIS = 1 << 18
CONNECT = 1 << 20
SPEAK = 1 << 21
CHANGE_NICKNAME = 1 << 26
USE_APPLICATION_COMMANDS = 1 << 31
USE_EXTERNAL_APPS = 1 << 50

PERMISSION_NAMES = {
    CREATE_INSTANT_INVITE: "Create Invite", MANAGE_GUILD: "Manage Server", ADD_REACTIONS: "Add Reactions",
    VIEW_CHANNEL: "View Channels", SEND_MESSAGES: "Send Messages", MANAGE_MESSAGES: "Manage Messages",
    EMBED_LINKS: "Embed Links", ATTACH_FILES: "Attach Files", READ_MESSAGE_HISTORY: "Read Message History",
    MENTION_EVERYONE: "Mention Everyone", USE_EXTERNAL_EMOJIS: "Use External Emoji", CONNECT: "Connect",
    SPEAK: "Speak", CHANGE_NICKNAME: "Change Nickname", USE_APPLICATION_COMMANDS: "Use Application Commands",
    USE_EXTERNAL_APPS: "Use External Apps",
}


def permission_names(bits: int) -> str:
    """"Manage Server" for 1 << 5: the names Discord's client shows, or the number if unnamed."""
    names = [name for bit, name in PERMISSION_NAMES.items() if bits & bit]
    rest = bits & ~sum(PERMISSION_NAMES)
    return ", ".join(names + ([f"permissions {rest}"] if rest else []))


EVERYONE_PERMISSIONS = (
    CREATE_INSTANT_INVITE | ADD_REACTIONS | VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS
    | ATTACH_FILES | READ_MESSAGE_HISTORY | USE_EXTERNAL_EMOJIS | CONNECT | SPEAK
    | CHANGE_NICKNAME | USE_APPLICATION_COMMANDS | USE_EXTERNAL_APPS
)
MODERATOR_PERMISSIONS = MANAGE_GUILD | MANAGE_MESSAGES | MENTION_EVERYONE
BOT_ROLE_PERMISSIONS = EVERYONE_PERMISSIONS | MENTION_EVERYONE
ALL_PERMISSIONS = (1 << 51) - 1
# What a bot may do in a DM with a user.
DM_PERMISSIONS = (
    VIEW_CHANNEL | SEND_MESSAGES | EMBED_LINKS | ATTACH_FILES | READ_MESSAGE_HISTORY
    | USE_EXTERNAL_EMOJIS
)

# What an app gets in a DM or group DM between people (not with its bot user), where only a
# user's install of it can be used.
PRIVATE_CHANNEL_PERMISSIONS = ATTACH_FILES | EMBED_LINKS | MENTION_EVERYONE

# Channel types and interaction context types used here.
GUILD_TEXT = 0
DM = 1
GROUP_DM = 3
CONTEXT_GUILD = 0
CONTEXT_BOT_DM = 1
CONTEXT_PRIVATE_CHANNEL = 2
# Installation contexts (application integration types), as authorizing_integration_owners' keys.
GUILD_INSTALL = 0
USER_INSTALL = 1



@dataclass
class User:
    id: int
    username: str
    global_name: str | None = None
    bot: bool = False
    locale: str = "en-US"  # their Discord client's language, sent with each interaction

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "id": str(self.id),
            "username": self.username,
            "global_name": self.global_name,
            "discriminator": "0",
            "avatar": None,
            "public_flags": 0,
            "flags": 0,
            "primary_guild": None,
        }
        if self.bot:
            data["bot"] = True
        return data

    @property
    def display_name(self) -> str:
        return self.global_name or self.username


@dataclass
class Role:
    id: int
    name: str
    permissions: int
    position: int = 0
    managed: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": str(self.id),
            "name": self.name,
            "color": 0,
            "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
            "hoist": False,
            "icon": None,
            "unicode_emoji": None,
            "position": self.position,
            "permissions": str(self.permissions),
            "managed": self.managed,
            "mentionable": False,
            "flags": 0,
        }


@dataclass
class Member:
    user: User
    role_ids: list[int]
    joined_at: datetime

    def to_dict(self, permissions: int | None = None) -> dict[str, Any]:
        data: dict[str, Any] = {
            "user": self.user.to_dict(),
            "roles": [str(role_id) for role_id in self.role_ids],
            "nick": None,
            "avatar": None,
            "banner": None,
            "joined_at": iso(self.joined_at),
            "premium_since": None,
            "deaf": False,
            "mute": False,
            "pending": False,
            "flags": 0,
            "communication_disabled_until": None,
        }
        if permissions is not None:
            data["permissions"] = str(permissions)
        return data


@dataclass
class Channel:
    id: int
    type: int
    name: str | None = None
    guild_id: int | None = None
    position: int = 0
    recipient: User | None = None
    # A group DM's people (the bot is never one: only a user's install of the app reaches there).
    members: list[User] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"id": str(self.id), "type": self.type, "flags": 0}
        if self.type == DM:
            data["recipients"] = [self.recipient.to_dict()] if self.recipient else []
            data["last_message_id"] = None
            return data
        if self.type == GROUP_DM:
            data.update(name=self.name, icon=None, owner_id=str(self.members[0].id),
                        recipients=[member.to_dict() for member in self.members], last_message_id=None)
            return data
        data.update(
            name=self.name,
            position=self.position,
            guild_id=str(self.guild_id),
            parent_id=None,
            topic=None,
            nsfw=False,
            last_message_id=None,
            rate_limit_per_user=0,
            permission_overwrites=[],
        )
        return data


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: dict[int, Role] = field(default_factory=dict)
    members: dict[int, Member] = field(default_factory=dict)
    channels: dict[int, Channel] = field(default_factory=dict)

    @property
    def default_channel(self) -> Channel:
        """The channel commands are typed in: the first one (each guild here has one text channel)."""
        return next(iter(self.channels.values()))

    def has_member(self, user_id: int) -> bool:
        return user_id in self.members

    def permissions_of(self, user_id: int) -> int:
        """Guild-level permissions as Discord computes them (no channel overwrites exist here)."""
        if user_id == self.owner_id:
            return ALL_PERMISSIONS
        member = self.members[user_id]
        permissions = self.roles[self.id].permissions
        for role_id in member.role_ids:
            permissions |= self.roles[role_id].permissions
        return permissions

    def to_dict(self, joined_at: datetime) -> dict[str, Any]:
        """The full guild object of GUILD_CREATE."""
        return {
            "id": str(self.id),
            "name": self.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "banner": None,
            "description": None,
            "owner_id": str(self.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 0,
            "explicit_content_filter": 0,
            "mfa_level": 0,
            "nsfw_level": 0,
            "premium_tier": 0,
            "premium_progress_bar_enabled": False,
            "preferred_locale": "en-US",
            "features": [],
            "application_id": None,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "public_updates_channel_id": None,
            "vanity_url_code": None,
            "max_members": 500000,
            "roles": [role.to_dict() for role in self.roles.values()],
            "emojis": [],
            "stickers": [],
            "joined_at": iso(joined_at),
            "large": False,
            "unavailable": False,
            "member_count": len(self.members),
            "members": [member.to_dict() for member in self.members.values()],
            "channels": [channel.to_dict() for channel in self.channels.values()],
            "threads": [],
            "presences": [],
            "voice_states": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }



def make_token(bot_id: int) -> str:
    """A token shaped like Discord's (base64 user id, timestamp part, HMAC part)."""
    user_part = base64.b64encode(str(bot_id).encode()).decode().rstrip("=")
    return f"{user_part}.{secrets.token_urlsafe(4)}.{secrets.token_urlsafe(27)}"


def _known(table: dict[Any, Any], key: Any, what: str) -> Any:
    """table[key], or a KeyError that lists the keys there are."""
    try:
        return table[key]
    except KeyError:
        raise KeyError(f"no {what} {key!r}; known: {', '.join(map(str, table))}") from None


@dataclass(frozen=True)
class Cast:
    """The names the emulated world shows: the application and its bot user, the first guild, its
    text channel and moderator role, and the display names of the three people in it. A bot's own
    tests or playground may give its own; nothing in the emulator depends on them."""

    app: str = "Test App"
    description: str = "An application served by the local Discord emulator."
    guild: str = "Test Server"
    channel: str = "general"
    moderators: str = "Moderators"
    owner: str = "Guild Owner"
    admin: str = "Admin"
    member: str = "Member"


class World:
    """The application, its bot user, one guild (owner, admin, plain member, bot), any further
    guilds a test adds (add_guild), and DMs. `guild` and `channel` are the first guild's."""

    def __init__(self, clock: Clock, *, cast: Cast | None = None) -> None:
        self.cast = cast = cast or Cast()
        self.clock = clock
        self.snowflakes = Snowflakes(clock)
        self.started_at = clock.utcnow()
        self.bot = User(self.snowflakes.next(), cast.app.lower().replace(" ", ""), cast.app, bot=True)
        # Newer applications share their id with their bot user.
        self.application_id = self.bot.id
        self.token = make_token(self.bot.id)
        self.users: dict[str, User] = {}
        self.guilds: dict[int, Guild] = {}
        self._moderator_roles: dict[int, Role] = {}
        self._dm_channels: dict[int, Channel] = {}
        self.group_dms: dict[int, Channel] = {}
        # The people who added the app to their own account (a user install): its commands that
        # allow it follow them to servers without the bot, their DMs and group DMs.
        self.user_installs: set[int] = set()
        self.messages = MessageStore()
        # Files behind attachments (uploaded by the bot or attached by people), served over HTTP.
        self.cdn = Cdn(clock)

        self._new_user("owner", cast.owner)
        self.guild = self._new_guild(cast.guild, self.snowflakes.next())
        self.channel = self.guild.default_channel
        self.add_member("admin", cast.admin, manage_guild=True)
        self.add_member("member", cast.member)

    def _new_guild(self, name: str, guild_id: int, *, with_bot: bool = True) -> Guild:
        """A guild with @everyone, a role with Manage Server, the bot's role, one text channel, the
        owner and (unless `with_bot` is False: a server that never added the app) the bot."""
        owner = self.users["owner"]
        guild = Guild(guild_id, name, owner_id=owner.id)
        guild.roles[guild_id] = Role(guild_id, "@everyone", EVERYONE_PERMISSIONS)
        moderator_role = Role(self.snowflakes.next(), self.cast.moderators, MODERATOR_PERMISSIONS, 1)
        bot_role = Role(self.snowflakes.next(), self.bot.display_name, BOT_ROLE_PERMISSIONS, 2, True)
        for role in (moderator_role, bot_role):
            guild.roles[role.id] = role
        channel = Channel(self.snowflakes.next(), GUILD_TEXT, self.cast.channel, guild_id)
        guild.channels[channel.id] = channel
        self.guilds[guild_id] = guild
        self._moderator_roles[guild_id] = moderator_role
        self._join(guild, owner, [])
        if with_bot:
            self._join(guild, self.bot, [bot_role.id])
        return guild

    def add_guild(self, name: str, *, shard: tuple[int, int] | None = None, with_bot: bool = True) -> Guild:
        """Another guild, with the same owner, admin (Manage Server) and member as the first.

        `shard` = (shard_id, shard_count) gives it an id that Discord routes to that shard. Add
        guilds before the bot connects: no GUILD_CREATE is sent for one added later. With
        `with_bot=False` the app was never added there: the bot hears nothing of it, and only
        people's own installs of the app can be used in it."""
        guild_id = self.snowflakes.next() if shard is None else self.snowflakes.next_on_shard(*shard)
        guild = self._new_guild(name, guild_id, with_bot=with_bot)
        self._join(guild, self.user("admin"), [self._moderator_roles[guild_id].id])
        self._join(guild, self.user("member"), [])
        return guild

    def guild_by_id(self, guild_id: int) -> Guild:
        return _known(self.guilds, guild_id, "guild")

    def _new_user(self, username: str, global_name: str | None) -> User:
        user = User(self.snowflakes.next(), username, global_name)
        self.users[username] = user
        return user

    def _join(self, guild: Guild, user: User, role_ids: list[int]) -> None:
        guild.members[user.id] = Member(user, role_ids, self.started_at)

    def add_member(
        self, username: str, global_name: str | None = None, *, manage_guild: bool = False,
        guild: Guild | None = None,
    ) -> User:
        """A new member of the first guild (or of `guild`); with manage_guild it holds the role
        granting Manage Server."""
        if username in self.users:
            raise ValueError(f"user {username!r} already exists")
        user = self._new_user(username, global_name)
        guild = guild or self.guild
        self._join(guild, user, [self._moderator_roles[guild.id].id] if manage_guild else [])
        return user

    def bot_guilds(self) -> list[Guild]:
        """The guilds the bot is a member of: the only ones its gateway connection hears of."""
        return [guild for guild in self.guilds.values() if guild.has_member(self.bot.id)]

    def install_for(self, username: str, installed: bool = True) -> User:
        """`username` adds the app to (or, with installed=False, removes it from) their account."""
        user = self.user(username)
        (self.user_installs.add if installed else self.user_installs.discard)(user.id)
        return user

    def group_dm(self, *usernames: str, name: str | None = None) -> Channel:
        """A new group DM between these people (the first owns it); the bot is not in it."""
        people = [self.user(username) for username in usernames]
        channel = Channel(self.snowflakes.next(), GROUP_DM, name, members=people)
        self.group_dms[channel.id] = channel
        return channel

    def user(self, username: str) -> User:
        return _known(self.users, username, "user")

    def user_by_id(self, user_id: int) -> User | None:
        if user_id == self.bot.id:
            return self.bot
        return next((user for user in self.users.values() if user.id == user_id), None)

    def dm_channel(self, user: User) -> Channel:
        if user.id not in self._dm_channels:
            self._dm_channels[user.id] = Channel(self.snowflakes.next(), DM, recipient=user)
        return self._dm_channels[user.id]

    def channel_exists(self, channel_id: int) -> bool:
        return self.channel_by_id(channel_id) is not None

    def channel_by_id(self, channel_id: int) -> Channel | None:
        """A guild text channel, an (already opened) DM channel with the bot, or a group DM."""
        for guild in self.guilds.values():
            if channel_id in guild.channels:
                return guild.channels[channel_id]
        if channel_id in self.group_dms:
            return self.group_dms[channel_id]
        return next((channel for channel in self._dm_channels.values() if channel.id == channel_id), None)

    def guild_of(self, channel: Channel) -> Guild | None:
        return None if channel.guild_id is None else self.guilds.get(channel.guild_id)

    def application_dict(self) -> dict[str, Any]:
        """GET /oauth2/applications/@me: the fields discord.py reads plus those the spec requires."""
        owner = self.users["owner"]
        return {
            "id": str(self.application_id),
            "name": self.bot.display_name,
            "icon": None,
            "description": self.cast.description,
            "type": None,
            "bot": self.bot.to_dict(),
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": secrets.token_hex(32),
            "flags": 0,
            "flags_new": "0",
            "redirect_uris": [],
            "interactions_endpoint_url": None,
            "role_connections_verification_url": None,
            "owner": owner.to_dict(),
            "approximate_guild_count": len(self.bot_guilds()),
            "approximate_user_install_count": len(self.user_installs),
            "approximate_user_authorization_count": 0,
            "explicit_content_filter": 0,
            "team": None,
            "eligible_oauth2_scopes": ["bot", "applications.commands"],
        }

    def bot_user_pii_dict(self) -> dict[str, Any]:
        """GET /users/@me for a bot token."""
        return {**self.bot.to_dict(), "mfa_enabled": False, "locale": "en-US", "verified": True}
