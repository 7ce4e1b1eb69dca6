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
