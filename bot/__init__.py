"""The Discord application: slash commands over charlm's generation engine; what it keeps (settings,
replies, server voices) in SQLite or PostgreSQL (bot/storage/)."""

# Kept equal to pyproject.toml's version by tests/bot/test_bot_cli.py; the container runs the code
# without installing the package, so importlib.metadata cannot be the source.
__version__ = "0.1.0"
