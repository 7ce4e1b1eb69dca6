"""Configuration from the environment: defaults, every variable, and one-sentence refusals."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.config import ENVIRONMENT, BotConfig, ConfigError


def test_an_empty_environment_gives_the_documented_defaults():
    config = BotConfig.from_env({})
    assert config.token is None
    assert config.api_base is None and config.gateway_url is None
    assert config.db_path == Path("data/bot.sqlite3")
    assert config.checkpoint_dir == Path("checkpoints")
    assert (config.device, config.log_level) == ("auto", "INFO")
    assert config.dev_guild_id is None and config.shard_count is None and config.shard_ids is None
    assert config.heartbeat_file == Path("data/bot.sqlite3.heartbeat")


def test_every_variable_is_read():
    config = BotConfig.from_env({
        "DISCORD_TOKEN": " abc.def ", "DISCORD_API_BASE": "http://127.0.0.1:8080/api/v10/",
        "DISCORD_GATEWAY_URL": "ws://127.0.0.1:8080/gateway", "BOT_DB_PATH": "/data/bot.sqlite3",
        "BOT_HEARTBEAT_PATH": "/tmp/beat", "CHECKPOINT_DIR": "/app/checkpoints", "DEVICE": "cuda:1",
        "DEV_GUILD_ID": "123456789012345678", "SHARD_COUNT": "4", "SHARD_IDS": "1, 3", "LOG_LEVEL": "debug",
    })
    assert config.token == "abc.def"
    assert config.api_base == "http://127.0.0.1:8080/api/v10"  # no trailing slash: routes start with /
    assert config.gateway_url == "ws://127.0.0.1:8080/gateway"
    assert config.db_path == Path("/data/bot.sqlite3")
    assert config.heartbeat_file == Path("/tmp/beat")
    assert config.checkpoint_dir == Path("/app/checkpoints")
    assert config.device == "cuda:1"
    assert config.dev_guild_id == 123456789012345678
    assert (config.shard_count, config.shard_ids, config.effective_shard_count) == (4, (1, 3), 4)
    assert config.log_level == "DEBUG" and config.log_level_number == 10


def test_the_help_lists_exactly_the_variables_the_config_reads():
    documented = {name for name, _, _ in ENVIRONMENT}
    source = (Path(__file__).resolve().parents[2] / "bot" / "config.py").read_text()
    read = set(re.findall(r'get\("([A-Z_]+)"\)', source))
    assert documented == read and len(read) == len(ENVIRONMENT)  # no variable listed twice


def test_voice_variables_are_read_and_checked():
    config = BotConfig.from_env({"BOT_DB_PATH": "/data/bot.sqlite3", "VOICE_TRAIN_SECONDS": "60",
                                 "VOICE_TRAIN_THREADS": "2", "VOICE_TRAINER": "OFF", "VOICE_CACHE_MB": "50",
                                 "DISCORD_CDN_URL": "http://127.0.0.1:9/cdn/"})
    assert (config.voice_train_seconds, config.voice_train_threads, config.voice_trainer) == (60, 2, "off")
    assert config.voices_folder == Path("/data/voices") and config.voice_cache_mb == 50
    assert config.cdn_url == "http://127.0.0.1:9/cdn"
    assert BotConfig.from_env({}).cdn_url == "https://cdn.discordapp.com"
    for name, value, sentence in [("VOICE_TRAINER", "remote", "VOICE_TRAINER must be local or off."),
                                  ("VOICE_TRAIN_SECONDS", "0", "VOICE_TRAIN_SECONDS must be a whole number"),
                                  ("DISCORD_CDN_URL", "ftp://x", "DISCORD_CDN_URL must be a http or https")]:
        with pytest.raises(ConfigError, match=re.escape(sentence)):
            BotConfig.from_env({name: value})


def test_shard_processes_sharing_a_volume_get_their_own_heartbeat():
    config = BotConfig.from_env({"BOT_DB_PATH": "/data/bot.sqlite3", "SHARD_COUNT": "4", "SHARD_IDS": "2,3"})
    assert config.heartbeat_file == Path("/data/bot.sqlite3.shards-2-3.heartbeat")


def test_a_chosen_gateway_means_one_shard_unless_told_otherwise():
    # Without a count discord.py would ask /gateway/bot, which also names the gateway to use.
    assert BotConfig.from_env({"DISCORD_GATEWAY_URL": "wss://gw.example"}).effective_shard_count == 1
    assert BotConfig.from_env({}).effective_shard_count is None


def test_a_missing_token_is_one_sentence_that_says_what_to_do():
    with pytest.raises(ConfigError) as refusal:
        BotConfig.from_env({"DISCORD_TOKEN": "  "}).require_token()
    assert "DISCORD_TOKEN is not set" in str(refusal.value) and "--local" in str(refusal.value)


@pytest.mark.parametrize("environment, named", [
    ({"DISCORD_API_BASE": "discord.com/api"}, "DISCORD_API_BASE"),
    ({"DISCORD_API_BASE": "ws://127.0.0.1/api"}, "DISCORD_API_BASE"),
    ({"DISCORD_GATEWAY_URL": "http://127.0.0.1/gateway"}, "DISCORD_GATEWAY_URL"),
    ({"DEV_GUILD_ID": "my-server"}, "DEV_GUILD_ID"),
    ({"DEV_GUILD_ID": "0"}, "DEV_GUILD_ID"),
    ({"SHARD_COUNT": "-1"}, "SHARD_COUNT"),
    ({"SHARD_COUNT": "\u00b2"}, "SHARD_COUNT"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "0,\u00b9"}, "SHARD_IDS"),
    ({"SHARD_IDS": "0"}, "SHARD_IDS needs SHARD_COUNT"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "0,2"}, "SHARD_IDS"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "1,1"}, "SHARD_IDS"),
    ({"SHARD_COUNT": "2", "SHARD_IDS": "zero"}, "SHARD_IDS"),
    ({"LOG_LEVEL": "loud"}, "LOG_LEVEL"),
    ({"DEVICE": "tpu"}, "DEVICE"),
])
def test_unusable_values_are_refused_with_one_sentence_naming_the_variable(environment, named):
    with pytest.raises(ConfigError) as refusal:
        BotConfig.from_env(environment)
    message = str(refusal.value)
    assert message.startswith(named) and message.endswith(".") and "\n" not in message
