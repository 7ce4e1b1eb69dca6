"""Shared test set-up.

Tests use small models, which run fastest on one thread; one thread also keeps a test run from
fighting a training run (or another test process) for the machine's cores. Subprocesses that the
tests start (the bot, train.py, torchrun) inherit the setting through the environment.
"""

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
# Every sentence the bot shows must exist in English and Korean: a missing one raises (bot/i18n.py).
os.environ.setdefault("BOT_STRICT_I18N", "1")

import torch  # noqa: E402  (the environment must be set before torch starts its thread pool)

torch.set_num_threads(1)

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

E2E = Path(__file__).parent / "e2e"


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Under pytest-xdist (`scripts/check` runs two workers) every end-to-end test goes to the same
    worker, in file order: they share one emulator and one bot process per session, as in a serial
    run, and the unit tests share the other worker."""
    for item in items:
        if E2E in item.path.parents:
            item.add_marker(pytest.mark.xdist_group("e2e"))
