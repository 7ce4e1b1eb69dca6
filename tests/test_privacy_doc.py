"""docs/privacy.md says what the bot stores and for how long, and people can find it (issue:
security, finding 8): every table of the store is in it, with the replies' real lifetime; the
README links it and /about, in both languages, says where it is."""

from __future__ import annotations

import re
from pathlib import Path

from bot.commands.about import about_text
from bot.storage.replies import REPLY_TTL_SECONDS
from bot.storage.schema import MIGRATIONS

ROOT = Path(__file__).resolve().parents[1]
PRIVACY = ROOT / "docs" / "privacy.md"


def test_the_privacy_notice_names_every_table_and_the_replies_lifetime():
    text = PRIVACY.read_text()
    tables = set(re.findall(r"CREATE TABLE (\w+)", "\n".join(MIGRATIONS))) - {"bot_state"}
    assert tables >= {"guild_settings", "user_settings", "replies"}
    for table in tables | {"voices", "voice_jobs"}:
        assert f"`{table}`" in text, table
    assert f"{REPLY_TTL_SECONDS // 86400} days" in text
    assert "/preferences reset" in text and "/settings reset" in text and "/voice delete" in text


def test_readme_and_about_point_to_it():
    assert "(docs/privacy.md)" in (ROOT / "README.md").read_text()
    for locale in ("en", "ko"):
        assert "docs/privacy.md" in about_text([], locale)
