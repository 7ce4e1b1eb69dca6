"""Every table the bot keeps, as each database's numbered migrations: SQLite's and PostgreSQL's.

Both histories are frozen: a shipped migration is never edited (a file or a database made by an
older release upgrades in place by running the ones it lacks), so a new table or column is a new
migration appended to each. The two differ only in what the databases spell differently (types,
STRICT, identity columns, the PostgreSQL trigger that NOTIFYs other processes of settings changes)
and in where the voices' bytes live (files beside SQLite, bytea in PostgreSQL). The CHECK
constraints repeat bot/storage/settings.py's limits as numbers, because a shipped migration must
not change when a constant does (tests check they agree).

SQLite records how many have run in PRAGMA user_version (bot/storage/sqlite_store.py); PostgreSQL
one row per migration in `schema_version` (bot/storage/postgres_store.py).
"""

from __future__ import annotations

# Numbered migrations, applied in order; PRAGMA user_version records how many have run. Never edit
# a shipped one: append a new one. NULL in a setting column means "use the default".
SQLITE_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE guild_settings (
        guild_id    INTEGER PRIMARY KEY CHECK (guild_id > 0),
        temperature REAL CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      INTEGER CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       TEXT CHECK (model IS NULL OR length(model) BETWEEN 1 AND 32),
        updated_at  TEXT NOT NULL DEFAULT (datetime('now'))
    ) STRICT;
    """,
    """
    CREATE TABLE bot_state (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
    ) STRICT;
    """,
    """
    CREATE TABLE replies (
        key          TEXT PRIMARY KEY CHECK (length(key) = 16),
        requester_id INTEGER NOT NULL CHECK (requester_id > 0),
        seed         TEXT NOT NULL CHECK (length(seed) <= 2000),
        model        TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 32),
        temperature  REAL NOT NULL CHECK (temperature BETWEEN 0.1 AND 2.0),
        length       INTEGER NOT NULL CHECK (length BETWEEN 1 AND 10000),
        body         TEXT NOT NULL CHECK (length(body) <= 2000),
        prompt       TEXT NOT NULL CHECK (length(prompt) BETWEEN 1 AND 2000),
        continued    INTEGER NOT NULL CHECK (continued IN (0, 1)),
        created_at   REAL NOT NULL
    ) STRICT;
    CREATE INDEX replies_by_age ON replies (created_at);
    """,
    """
    CREATE TABLE user_settings (
        user_id     INTEGER PRIMARY KEY CHECK (user_id > 0),
        temperature REAL CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      INTEGER CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       TEXT CHECK (model IS NULL OR length(model) BETWEEN 1 AND 32),
        updated_at  TEXT NOT NULL DEFAULT (datetime('now'))
    ) STRICT;
    """,
    # Server voices (bot/voices/): the trained ones, and the jobs that train them. At most one job
    # per server is queued or running (the partial unique index), whichever process adds it.
    """
    CREATE TABLE voices (
        guild_id    INTEGER NOT NULL CHECK (guild_id > 0),
        name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 20),
        base        TEXT NOT NULL CHECK (length(base) BETWEEN 1 AND 32),
        file        TEXT NOT NULL,
        bits_before REAL NOT NULL,
        bits_after  REAL NOT NULL,
        created_at  REAL NOT NULL,
        PRIMARY KEY (guild_id, name)
    ) STRICT;
    CREATE TABLE voice_jobs (
        id           INTEGER PRIMARY KEY,
        guild_id     INTEGER NOT NULL CHECK (guild_id > 0),
        name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 20),
        base         TEXT NOT NULL CHECK (length(base) BETWEEN 1 AND 32),
        requester_id INTEGER NOT NULL CHECK (requester_id > 0),
        text_file    TEXT NOT NULL,
        state        TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts     INTEGER NOT NULL DEFAULT 0,
        progress     REAL NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
        bits_before  REAL,
        bits_now     REAL,
        seconds_left REAL,
        reason       TEXT,
        created_at   REAL NOT NULL,
        updated_at   REAL NOT NULL,
        heartbeat_at REAL
    ) STRICT;
    CREATE UNIQUE INDEX one_live_job_per_guild ON voice_jobs (guild_id) WHERE state IN ('queued', 'running');
    """,
    # /guess (bot/storage/games.py): rounds, their votes, each server's scores, each model's tally.
    # At most one open round per channel, whichever process opens it (the partial unique index).
    """
    CREATE TABLE guess_rounds (
        key         TEXT PRIMARY KEY CHECK (length(key) = 16),
        guild_id    INTEGER CHECK (guild_id IS NULL OR guild_id > 0),
        channel_id  INTEGER NOT NULL CHECK (channel_id > 0),
        message_id  INTEGER,
        starter_id  INTEGER NOT NULL CHECK (starter_id > 0),
        model       TEXT NOT NULL CHECK (length(model) BETWEEN 1 AND 32),
        kind        TEXT CHECK (kind IS NULL OR kind IN ('real', 'model')),
        text        TEXT CHECK (text IS NULL OR length(text) <= 2000),
        created_at  REAL NOT NULL,
        reveal_at   REAL NOT NULL,
        revealed_at REAL
    ) STRICT;
    CREATE UNIQUE INDEX one_open_round_per_channel ON guess_rounds (channel_id) WHERE revealed_at IS NULL;
    CREATE INDEX guess_rounds_due ON guess_rounds (reveal_at) WHERE revealed_at IS NULL;
    CREATE INDEX guess_rounds_by_age ON guess_rounds (created_at);
    CREATE TABLE guess_votes (
        round_key TEXT NOT NULL,
        user_id   INTEGER NOT NULL CHECK (user_id > 0),
        choice    TEXT NOT NULL CHECK (choice IN ('shakespeare', 'bot')),
        voted_at  REAL NOT NULL,
        PRIMARY KEY (round_key, user_id)
    ) STRICT;
    CREATE TABLE guess_scores (
        guild_id    INTEGER NOT NULL CHECK (guild_id > 0),
        user_id     INTEGER NOT NULL CHECK (user_id > 0),
        points      INTEGER NOT NULL CHECK (points >= 0),
        streak      INTEGER NOT NULL CHECK (streak >= 0),
        best_streak INTEGER NOT NULL CHECK (best_streak >= 0),
        rounds      INTEGER NOT NULL CHECK (rounds >= 0),
        updated_at  REAL NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    ) STRICT;
    CREATE INDEX guess_scores_by_age ON guess_scores (updated_at);
    CREATE TABLE guess_fooled (
        model       TEXT PRIMARY KEY CHECK (length(model) BETWEEN 1 AND 32),
        shakespeare INTEGER NOT NULL CHECK (shakespeare >= 0),
        votes       INTEGER NOT NULL CHECK (votes >= shakespeare)
    ) STRICT;
    """,
)
SQLITE_SCHEMA_VERSION = len(SQLITE_MIGRATIONS)

# Numbered migrations, applied in order, each recorded as a row of schema_version. Never edit a
# shipped one: append a new one. They are this database's own, not the SQLite ones above
# (the same tables, numbered in the order each came here). NULL in a setting column means "use the
# default".
POSTGRES_MIGRATIONS: tuple[str, ...] = (
    """
    CREATE TABLE guild_settings (
        guild_id    bigint PRIMARY KEY CHECK (guild_id > 0),
        temperature double precision CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      integer CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       text CHECK (model IS NULL OR char_length(model) BETWEEN 1 AND 32),
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    CREATE TABLE user_settings (
        user_id     bigint PRIMARY KEY CHECK (user_id > 0),
        temperature double precision CHECK (temperature IS NULL OR temperature BETWEEN 0.1 AND 2.0),
        length      integer CHECK (length IS NULL OR length BETWEEN 1 AND 1500),
        model       text CHECK (model IS NULL OR char_length(model) BETWEEN 1 AND 32),
        updated_at  timestamptz NOT NULL DEFAULT now()
    );
    -- Every change, whoever makes it (a bot process, an operator in psql), tells the listening
    -- bots whose cached settings to drop: 'guild:123', 'user:5', or 'guild:*' after a TRUNCATE.
    CREATE FUNCTION bot_settings_changed() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN
        IF TG_OP = 'TRUNCATE' THEN
            PERFORM pg_notify('bot_settings_changed', TG_ARGV[0] || ':*');
            RETURN NULL;
        END IF;
        IF TG_OP IN ('UPDATE', 'DELETE') THEN
            PERFORM pg_notify('bot_settings_changed', TG_ARGV[0] || ':' || (to_jsonb(OLD) ->> TG_ARGV[1]));
        END IF;
        IF TG_OP IN ('INSERT', 'UPDATE') THEN
            PERFORM pg_notify('bot_settings_changed', TG_ARGV[0] || ':' || (to_jsonb(NEW) ->> TG_ARGV[1]));
        END IF;
        RETURN NULL;
    END
    $$;
    CREATE TRIGGER guild_settings_changed AFTER INSERT OR UPDATE OR DELETE ON guild_settings
        FOR EACH ROW EXECUTE FUNCTION bot_settings_changed('guild', 'guild_id');
    CREATE TRIGGER guild_settings_truncated AFTER TRUNCATE ON guild_settings
        FOR EACH STATEMENT EXECUTE FUNCTION bot_settings_changed('guild', 'guild_id');
    CREATE TRIGGER user_settings_changed AFTER INSERT OR UPDATE OR DELETE ON user_settings
        FOR EACH ROW EXECUTE FUNCTION bot_settings_changed('user', 'user_id');
    CREATE TRIGGER user_settings_truncated AFTER TRUNCATE ON user_settings
        FOR EACH STATEMENT EXECUTE FUNCTION bot_settings_changed('user', 'user_id');
    """,
    """
    CREATE TABLE bot_state (
        key   text PRIMARY KEY,
        value text NOT NULL
    );
    """,
    """
    CREATE TABLE replies (
        key          text PRIMARY KEY CHECK (char_length(key) = 16),
        requester_id bigint NOT NULL CHECK (requester_id > 0),
        seed         text NOT NULL CHECK (char_length(seed) <= 2000),
        model        text NOT NULL CHECK (char_length(model) BETWEEN 1 AND 32),
        temperature  double precision NOT NULL CHECK (temperature BETWEEN 0.1 AND 2.0),
        length       integer NOT NULL CHECK (length BETWEEN 1 AND 10000),
        body         text NOT NULL CHECK (char_length(body) <= 2000),
        prompt       text NOT NULL CHECK (char_length(prompt) BETWEEN 1 AND 2000),
        continued    boolean NOT NULL,
        created_at   double precision NOT NULL
    );
    CREATE INDEX replies_by_age ON replies (created_at);
    """,
    # Server voices (bot/storage/pg_voices.py): the trained ones with their weights, and the jobs that
    # train them with their uploaded text (NULL once the job ended). As SQLite's migration 5, at
    # most one job per server is queued or running (the partial unique index). Times are Unix
    # seconds, as there.
    """
    CREATE TABLE voices (
        guild_id    bigint NOT NULL CHECK (guild_id > 0),
        name        text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 20),
        base        text NOT NULL CHECK (char_length(base) BETWEEN 1 AND 32),
        data        bytea NOT NULL CHECK (octet_length(data) > 0),
        bits_before double precision NOT NULL,
        bits_after  double precision NOT NULL,
        created_at  double precision NOT NULL,
        PRIMARY KEY (guild_id, name)
    );
    -- Checkpoints do not compress: stored out of line as they are, not run through pglz first.
    ALTER TABLE voices ALTER COLUMN data SET STORAGE EXTERNAL;
    CREATE TABLE voice_jobs (
        id           bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
        guild_id     bigint NOT NULL CHECK (guild_id > 0),
        name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 20),
        base         text NOT NULL CHECK (char_length(base) BETWEEN 1 AND 32),
        requester_id bigint NOT NULL CHECK (requester_id > 0),
        -- At most 2 MB uploaded, so at most 2 Mi characters; a queued job always has its text.
        text         text CHECK (char_length(text) <= 2097152),
        state        text NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed', 'cancelled')),
        attempts     integer NOT NULL DEFAULT 0,
        progress     double precision NOT NULL DEFAULT 0 CHECK (progress BETWEEN 0 AND 1),
        bits_before  double precision,
        bits_now     double precision,
        seconds_left double precision,
        reason       text,
        created_at   double precision NOT NULL,
        updated_at   double precision NOT NULL,
        heartbeat_at double precision,
        CHECK (state <> 'queued' OR text IS NOT NULL)
    );
    CREATE UNIQUE INDEX one_live_job_per_guild ON voice_jobs (guild_id) WHERE state IN ('queued', 'running');
    """,
    # /guess (bot/storage/games.py), as SQLite's guess migration.
    """
    CREATE TABLE guess_rounds (
        key         text PRIMARY KEY CHECK (char_length(key) = 16),
        guild_id    bigint CHECK (guild_id IS NULL OR guild_id > 0),
        channel_id  bigint NOT NULL CHECK (channel_id > 0),
        message_id  bigint,
        starter_id  bigint NOT NULL CHECK (starter_id > 0),
        model       text NOT NULL CHECK (char_length(model) BETWEEN 1 AND 32),
        kind        text CHECK (kind IS NULL OR kind IN ('real', 'model')),
        text        text CHECK (text IS NULL OR char_length(text) <= 2000),
        created_at  double precision NOT NULL,
        reveal_at   double precision NOT NULL,
        revealed_at double precision
    );
    CREATE UNIQUE INDEX one_open_round_per_channel ON guess_rounds (channel_id) WHERE revealed_at IS NULL;
    CREATE INDEX guess_rounds_due ON guess_rounds (reveal_at) WHERE revealed_at IS NULL;
    CREATE INDEX guess_rounds_by_age ON guess_rounds (created_at);
    CREATE TABLE guess_votes (
        round_key text NOT NULL,
        user_id   bigint NOT NULL CHECK (user_id > 0),
        choice    text NOT NULL CHECK (choice IN ('shakespeare', 'bot')),
        voted_at  double precision NOT NULL,
        PRIMARY KEY (round_key, user_id)
    );
    CREATE TABLE guess_scores (
        guild_id    bigint NOT NULL CHECK (guild_id > 0),
        user_id     bigint NOT NULL CHECK (user_id > 0),
        points      integer NOT NULL CHECK (points >= 0),
        streak      integer NOT NULL CHECK (streak >= 0),
        best_streak integer NOT NULL CHECK (best_streak >= 0),
        rounds      integer NOT NULL CHECK (rounds >= 0),
        updated_at  double precision NOT NULL,
        PRIMARY KEY (guild_id, user_id)
    );
    CREATE INDEX guess_scores_by_age ON guess_scores (updated_at);
    CREATE TABLE guess_fooled (
        model       text PRIMARY KEY CHECK (char_length(model) BETWEEN 1 AND 32),
        shakespeare bigint NOT NULL CHECK (shakespeare >= 0),
        votes       bigint NOT NULL CHECK (votes >= shakespeare)
    );
    """,
)
POSTGRES_SCHEMA_VERSION = len(POSTGRES_MIGRATIONS)
POSTGRES_VERSION_TABLE = """
    CREATE TABLE IF NOT EXISTS schema_version (
        version    integer PRIMARY KEY CHECK (version > 0),
        applied_at timestamptz NOT NULL DEFAULT now()
    )
"""
