"""Developer tools that run the whole bot against the local Discord emulator: the playground
(`python -m bot --local`, playground.py) and the offline self-test (`python -m bot --self-test`,
selftest.py). The only bot modules that import discord_emulator; nothing in the bot imports them
but the command line (bot/__main__.py)."""
