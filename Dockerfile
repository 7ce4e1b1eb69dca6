# The Shakespeare bot as a container: the bot's code, the shipped checkpoints, CPU PyTorch,
# settings in SQLite on the /data volume, running as an unprivileged user.
#
#   docker build -t shakespeare-bot .                                          # CPU (default)
#   docker build -t shakespeare-bot:cuda --build-arg TORCH_VARIANT=cu128 .     # CUDA 12.8
#   docker run --env-file bot.env -v shakespeare-bot-data:/data shakespeare-bot
#
# scripts/container_smoke.sh builds it and runs the self-test inside it; docs/deploy.md has the rest.
FROM python:3.11-slim

# Which PyTorch build goes in: "cpu" (the default, a few hundred MB) or a CUDA tag of the PyTorch
# wheel index such as "cu128" (several GB; run it with `--gpus all -e DEVICE=cuda`).
# TORCH_INDEX_URL is the index that serves that build; point it at a mirror if you have one.
ARG TORCH_VARIANT=cpu
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/${TORCH_VARIANT}
# Only for builds behind a TLS-inspecting proxy or with a local wheel folder (the smoke test passes
# them, with the files mounted for the build alone); unset unless passed, so pip works as usual.
ARG PIP_CERT
ARG PIP_FIND_LINKS

ENV VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

COPY pyproject.toml constraints.txt /tmp/build/

# Layers from the one that changes least: torch (the bulk of the image), the other pinned
# dependencies, then the checkpoints and the bot's code. torch comes alone and without its dependencies, so that only
# torch itself is taken from the PyTorch index; the next step takes the rest from PyPI, with every
# version pinned by constraints.txt (and torch's own CUDA libraries pinned exactly by torch).
# The wheel's C++ headers and C++ test programs (about 200 MB) serve only to build extensions and
# to test torch itself; the bot needs neither, and the image has no compiler to use the headers.
RUN python -m venv "$VIRTUAL_ENV" \
    && pip install --no-cache-dir --no-deps --index-url "$TORCH_INDEX_URL" \
        -c /tmp/build/constraints.txt torch \
    && torch_dir="$(python -c 'import importlib.util; print(importlib.util.find_spec("torch").submodule_search_locations[0])')" \
    && rm -rf "$torch_dir/include" "$torch_dir/test" \
    && find "$torch_dir/bin" -mindepth 1 -not -name torch_shm_manager -delete

# The runtime dependencies are read from pyproject.toml so that they are listed in one place.
RUN python -c "import tomllib; print(*tomllib.load(open('/tmp/build/pyproject.toml', 'rb'))['project']['dependencies'], sep='\n')" \
        > /tmp/build/requirements.txt \
    && pip install --no-cache-dir -c /tmp/build/constraints.txt -r /tmp/build/requirements.txt \
    && pip check \
    && rm -rf /tmp/build \
    && groupadd --gid 10001 bot \
    && useradd --uid 10001 --gid bot --create-home --home-dir /home/bot --shell /usr/sbin/nologin bot \
    && mkdir /data \
    && chown bot:bot /data

WORKDIR /app
# Readable by the bot's user whatever mode the files have in the checkout (git keeps no modes).
COPY --chmod=0644 checkpoints/*.safetensors /app/checkpoints/
COPY charlm /app/charlm
COPY bot /app/bot
COPY discord_emulator /app/discord_emulator

ENV PYTHONPATH=/app \
    CHECKPOINT_DIR=/app/checkpoints \
    BOT_DB_PATH=/data/bot.sqlite3 \
    BOT_HEARTBEAT_PATH=/tmp/bot.heartbeat

# Settings live here. Several containers may share it on one host (SQLite in WAL mode).
VOLUME ["/data"]
USER 10001:10001

# The bot finishes the replies in flight, closes the gateway and the database, then exits 0.
STOPSIGNAL SIGTERM
# Healthy only while the bot is connected and its heartbeat is fresh, not merely while it runs.
# The heartbeat is in the container's own /tmp: containers sharing /data must not share it.
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-m", "bot", "healthcheck"]

# `docker run IMAGE` runs the bot; `docker run IMAGE --self-test` runs the offline self-test.
ENTRYPOINT ["python", "-m", "bot"]
