"""Every table the bot keeps, written once for both databases, as numbered migrations.

`MIGRATIONS` is the one history: SQL with a few fields in braces for what the two databases spell
differently, filled in by each database's `Dialect` (SQLITE in bot/storage/sqlite.py, POSTGRES in
bot/storage/postgres.py):

    {int} {bigint} {real} {text}   column types (SQLite's STRICT INTEGER, REAL, TEXT; PostgreSQL's
                                   integer, bigint, double precision, text)
    {bool:column}                  a true/false column (SQLite: an INTEGER that is 0 or 1)
    {timestamp} {now}              when a row was written, and its default
    {identity}                     a primary key the database numbers
    {strict}                       after a table: SQLite checks every column's type (STRICT)
    {notify:table column}          PostgreSQL only: the trigger that tells every listening bot
                                   process which row of a settings table changed (LISTEN/NOTIFY)
    {sqlite:...} {postgres:...}    what only one database has: where a voice's weights and a
                                   job's uploaded text live (files beside SQLite, the rows in
                                   PostgreSQL, which hosts share without a folder)

The history is frozen: a shipped migration is never edited (a file or a database made by an older
release upgrades in place by running the ones it lacks), so a new table or column is a new migration
appended here, once. The CHECK constraints repeat bot/storage/settings.py's limits as numbers,
because a shipped migration must not change when a constant does (tests check they agree).

SQLite records how many have run in PRAGMA user_version (bot/storage/sqlite_store.py); PostgreSQL
one row per migration in `schema_migrations` (bot/storage/postgres.py `migrate`, which also reads
the numbering PostgreSQL databases had before the history was written once).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

# Numbered migrations, applied in order. Never edit a shipped one: append a new one. NULL in a
# setting column means "use the default".
MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE guild_settings (
        guild_id    {bigint} PRIMARY KEY CHECK (guild_id > 0),
        temperature {real} CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      {int} CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       {text} CHECK (model IS NULL OR length(model) BETWEEN 1 AND 32),
        updated_at  {timestamp} NOT NULL DEFAULT {now}
    ){strict};
    {notify:guild_settings guild_id}
    """,
    """
    CREATE TABLE bot_state (
        key   {text} PRIMARY KEY,
        value {text} NOT NULL
    ){strict};
    """,
    """
    CREATE TABLE replies (
        key          {text} PRIMARY KEY CHECK (length(key) = 16),
        requester_id {bigint} NOT NULL CHECK (requester_id > 0),
        seed         {text} NOT NULL CHECK (length(seed) <= 2000),
        model        {text} NOT NULL CHECK (length(model) BETWEEN 1 AND 32),
        temperature  {real} NOT NULL CHECK (temperature BETWEEN 0.1 AND 2.0),
        length       {int} NOT NULL CHECK (length BETWEEN 1 AND 10000),
        body         {text} NOT NULL CHECK (length(body) <= 2000),
        prompt       {text} NOT NULL CHECK (length(prompt) BETWEEN 1 AND 2000),
        continued    {bool:continued} NOT NULL,
        created_at   {real} NOT NULL
    ){strict};
    CREATE INDEX replies_by_age ON replies (created_at);
    """,
    """
    CREATE TABLE user_settings (
        user_id     {bigint} PRIMARY KEY CHECK (user_id > 0),
        temperature {real} CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      {int} CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       {text} CHECK (model IS NULL OR length(model) BETWEEN 1 AND 32),
        updated_at  {timestamp} NOT NULL DEFAULT {now}
    ){strict};
    {notify:user_settings user_id}
    """,
    # Server voices (bot/storage/voices.py): the trained ones, and the jobs that train them. At most
    # one job per server is queued or running (the partial unique index), whichever process adds
    # it. SQLite keeps a voice's weights and a job's uploaded text in files (their paths here);
    # PostgreSQL in the rows, the text set NULL once its job ended (at most 2 MB uploaded, so at
    # most 2 Mi characters; a queued job always has its text). Times are Unix seconds.
    """
    CREATE TABLE voices (
        guild_id    {bigint} NOT NULL CHECK (guild_id > 0),
        name        {text} NOT NULL CHECK (length(name) BETWEEN 1 AND 20),
        base        {text} NOT NULL CHECK (length(base) BETWEEN 1 AND 32),
        {sqlite:file TEXT NOT NULL,}{postgres:data bytea NOT NULL CHECK (length(data) > 0),}
        bits_before {real} NOT NULL,
        bits_after  {real} NOT NULL,
        created_at  {real} NOT NULL,
        PRIMARY KEY (guild_id, name)
    ){strict};
    {postgres:ALTER TABLE voices ALTER COLUMN data SET STORAGE EXTERNAL;}
    CREATE TABLE voice_jobs (
        id           {identity},
        guild_id     {bigint} NOT NULL CHECK (guild_id > 0),
        name         {text} NOT NULL CHECK (length(name) BETWEEN 1 AND 20),
        base         {text} NOT NULL CHECK (length(base) BETWEEN 1 AND 32),
        requester_id {bigint} NOT NULL CHECK (requester_id > 0),
        {sqlite:text_file TEXT NOT NULL,}{postgres:text text CHECK (length(text) <= 2097152),}
        state        {text} NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts     {int} NOT NULL DEFAULT 0,
        progress     {real} NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
        bits_before  {real},
        bits_now     {real},
        seconds_left {real},
        reason       {text},
        created_at   {real} NOT NULL,
        updated_at   {real} NOT NULL,
        heartbeat_at {real}{postgres:,
        CHECK (state <> 'queued' OR text IS NOT NULL)}
    ){strict};
    CREATE UNIQUE INDEX one_live_job_per_guild ON voice_jobs (guild_id) WHERE state IN ('queued', 'running');
    """,
    # /guess (bot/storage/games.py): rounds, their votes, each server's scores, each model's tally.
    # At most one open round per channel, whichever process opens it (the partial unique index).
    """
    CREATE TABLE guess_rounds (
        key         {text} PRIMARY KEY CHECK (length(key) = 16),
        guild_id    {bigint} CHECK (guild_id IS NULL OR guild_id > 0),
        channel_id  {bigint} NOT NULL CHECK (channel_id > 0),
        message_id  {bigint},
        starter_id  {bigint} NOT NULL CHECK (starter_id > 0),
        model       {text} NOT NULL CHECK (length(model) BETWEEN 1 AND 32),
        kind        {text} CHECK (kind IS NULL OR kind IN ('real', 'model')),
        text        {text} CHECK (text IS NULL OR length(text) <= 2000),
        created_at  {real} NOT NULL,
        reveal_at   {real} NOT NULL,
        revealed_at {real}
    ){strict};
    CREATE UNIQUE INDEX one_open_round_per_channel ON guess_rounds (channel_id) WHERE revealed_at IS NULL;
    CREATE INDEX guess_rounds_due ON guess_rounds (reveal_at) WHERE revealed_at IS NULL;
    CREATE INDEX guess_rounds_by_age ON guess_rounds (created_at);
    CREATE TABLE guess_votes (
        round_key {text} NOT NULL,
        user_id   {bigint} NOT NULL CHECK (user_id > 0),
        choice    {text} NOT NULL CHECK (choice IN ('shakespeare', 'bot')),
        voted_at  {real} NOT NULL,
        PRIMARY KEY (round_key, user_id)
    ){strict};
    CREATE TABLE guess_scores (
        guild_id    {bigint} NOT NULL CHECK (guild_id > 0),
        user_id     {bigint} NOT NULL CHECK (user_id > 0),
        points      {int} NOT NULL CHECK (points >= 0),
        streak      {int} NOT NULL CHECK (streak >= 0),
        best_streak {int} NOT NULL CHECK (best_streak >= 0),
        rounds      {int} NOT NULL CHECK (rounds >= 0),
        updated_at  {real} NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ){strict};
    CREATE INDEX guess_scores_by_age ON guess_scores (updated_at);
    CREATE TABLE guess_fooled (
        model       {text} PRIMARY KEY CHECK (length(model) BETWEEN 1 AND 32),
        shakespeare {bigint} NOT NULL CHECK (shakespeare >= 0),
        votes       {bigint} NOT NULL CHECK (votes >= shakespeare)
    ){strict};
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# The fields every dialect spells; {sqlite:...} and {postgres:...} come from the dialects' names.
FIELDS = frozenset({"int", "bigint", "real", "text", "bool", "timestamp", "now", "identity", "strict",
                    "notify"})
Spelling = str | Callable[[str], str]  # a word, or a function of what follows the field's colon


class _Spelled:
    """A field's value in str.format_map: its spelling, given the text after the field's colon."""

    def __init__(self, spelling: Spelling) -> None:
        self.spelling = spelling

    def __format__(self, spec: str) -> str:
        return self.spelling(spec) if callable(self.spelling) else self.spelling


class Dialect:
    """How one database spells the fields of MIGRATIONS; `name` ("sqlite", "postgres") is the field
    whose text only this database keeps."""

    def __init__(self, name: str, words: Mapping[str, Spelling]) -> None:
        if set(words) != FIELDS:
            raise ValueError(f"dialect {name} spells {sorted(set(words) ^ FIELDS)} wrongly")
        self.name = name
        fields: dict[str, _Spelled] = {field: _Spelled(spelling) for field, spelling in words.items()}
        fields.update({other: _Spelled("") for other in ("sqlite", "postgres")})
        fields[name] = _Spelled(lambda text: text)
        self._fields = fields

    def migration(self, number: int) -> str:
        """Migration `number` (1 for the first) in this database's SQL."""
        return MIGRATIONS[number - 1].format_map(self._fields)
