"""The running client, the top of the bot's layers: the client and its command tree (client.py),
start and stop (runner.py, lifecycle.py), the command sync (sync.py) and the guards on discord.py's
gateway connection (gateway.py). It may import every layer below it; nothing below imports it at
run time (the commands name its client for type hints only)."""
