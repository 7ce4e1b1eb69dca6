"""Operations: what an operator watches and runs beside the bot. The metrics (metrics.py), the
HTTP status server of /metrics, /healthz and /readyz (http_status.py), the heartbeat file and the
container's health check (health.py), log lines as JSON (logs.py) and the invite link (invite.py).
Beside storage and voices in the bot's layers: it imports nothing of the client or the commands."""
