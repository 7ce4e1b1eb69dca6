"""The shape of the house: which package may import which, and README's copy of the settings table.

Data flows one way (Discord -> bot -> engine -> model); an arrow never points back up. The emulator
is a tool of its own: it knows nothing of the bot, and the bot reaches for it only to drive itself
(the playground and the offline self-test).
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

from bot.config import environment_table

REPO = Path(__file__).resolve().parents[1]
# Modules of bot/ that may import the emulator: they run the bot against it.
BOT_MODULES_USING_THE_EMULATOR = {"bot/playground.py", "bot/selftest.py"}


def imported_packages(path: Path) -> set[str]:
    """The top-level package of every import in a file, wherever in the file it is."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name.partition(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.add(node.module.partition(".")[0])
    return found


def imports_by_file(package: str) -> dict[str, set[str]]:
    return {str(path.relative_to(REPO)): imported_packages(path)
            for path in sorted((REPO / package).rglob("*.py"))}


def test_imported_packages_sees_every_form_of_import(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text("import bot.client\nfrom charlm.engine import GenerationEngine\nfrom . import x\n"
                      "def later():\n    import discord_emulator as e\n")
    assert imported_packages(sample) == {"bot", "charlm", "discord_emulator"}


@pytest.mark.parametrize(("package", "forbidden"), [
    ("charlm", {"bot", "discord_emulator", "discord", "aiosqlite", "train"}),
    ("discord_emulator", {"bot", "charlm", "discord", "train"}),
])
def test_lower_packages_import_nothing_above_them(package: str, forbidden: set[str]) -> None:
    files = imports_by_file(package)
    assert files, f"{package}/ has no modules"
    offenders = {name: sorted(imports & forbidden) for name, imports in files.items() if imports & forbidden}
    assert not offenders, f"{package} must not import {sorted(forbidden)}: {offenders}"


def test_the_bot_uses_the_emulator_only_to_drive_itself() -> None:
    users = {name for name, imports in imports_by_file("bot").items() if "discord_emulator" in imports}
    assert users == BOT_MODULES_USING_THE_EMULATOR
    assert not any("train" in imports for imports in imports_by_file("bot").values())


def test_readme_configuration_table_is_the_one_the_code_prints() -> None:
    readme = (REPO / "README.md").read_text()
    assert environment_table() in readme, (
        "README's configuration table differs from bot/config.py's ENVIRONMENT; paste the output of "
        "`python -c 'from bot.config import environment_table; print(environment_table())'`")


def test_readme_stays_short() -> None:
    assert len((REPO / "README.md").read_bytes()) < 12 * 1024, "README is for users; figures go in docs/"


def test_storage_and_the_error_tree_know_nothing_of_discord() -> None:
    """bot/storage/ (and bot/errors.py, whose tree storage raises) import no Discord library; the
    trainer reaches the database through bot.storage, never the client or the runner."""
    files = {**imports_by_file("bot/storage"), "bot/errors.py": imported_packages(REPO / "bot/errors.py")}
    assert "bot/storage/__init__.py" in files
    offenders = {name: sorted(imports & {"discord", "discord_emulator"}) for name, imports in files.items()
                 if imports & {"discord", "discord_emulator"}}
    assert not offenders, f"storage must not import Discord: {offenders}"
    loaded = subprocess.run(
        [sys.executable, "-c", "import sys, bot.errors, bot.storage, bot.storage.postgres_store, "
         "bot.storage.copy_to_postgres, bot.storage.timed, bot.voices.trainer; "
         "print(sorted(name for name in sys.modules if name.split('.')[0] == 'discord'"
         " or name in ('bot.client', 'bot.runner')))"],
        cwd=REPO, capture_output=True, text=True, check=True)
    assert loaded.stdout.strip() == "[]", loaded.stdout  # nor anything they import
    trainer = ast.parse((REPO / "bot/voices/trainer.py").read_text())
    modules = {node.module for node in ast.walk(trainer) if isinstance(node, ast.ImportFrom)}
    assert not modules & {"bot.client", "bot.runner"}, modules
