#!/usr/bin/env bash
# Container smoke test: builds the image from Dockerfile and proves it works with no network.
#
#   scripts/container_smoke.sh          (.ci/run calls it; needs root where podman must be installed)
#
# 1. Picks the engine: Docker where a Docker engine answers, else podman (apt-installed if missing),
#    with a throwaway image store, so nothing is cached between runs and nothing is left behind.
# 2. Uses python:3.11-slim if it can be pulled; where no registry answers it builds a stand-in for
#    it with debootstrap (scripts/container/build_standin_base.sh) and builds the image on that.
# 3. Builds the image and prints the build time and the image size.
# 4. Runs `--self-test` in a container with --network=none and a fresh /data volume, then a second
#    container on the same volume that checks the settings the first one wrote are still there.
# 5. Runs the bot as compose.yaml does, as two shards sharing the /data volume, against the emulator
#    in a container beside them (still no network): each shard's HEALTHCHECK must pass while it
#    serves, and SIGTERM must stop each with status 0.
# 6. Removes every container, volume and image it made (also when a step fails).
#
# Environment: CONTAINER_ENGINE (docker or podman), TORCH_VARIANT (default cpu),
# SMOKE_TIMEOUT (seconds for each container run, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
run_id="$(date +%s)-$$"
image="localhost/shakespeare-bot:smoke-$run_id"
standin="localhost/shakespeare-bot-standin-base:$run_id"
volume="shakespeare-bot-smoke-$run_id"
emulator_container="shakespeare-bot-smoke-emulator-$run_id"
bot_container="shakespeare-bot-smoke-bot-$run_id"
base=python:3.11-slim
torch_variant=${TORCH_VARIANT:-cpu}
timeout_s=${SMOKE_TIMEOUT:-300}
work=$(mktemp -d /var/tmp/container-smoke.XXXXXX)

say() { echo "container_smoke: $*"; }
fail() { echo "container_smoke: FAILED: $*" >&2; exit 1; }

# --- 1. the engine -------------------------------------------------------------------------------
engine=${CONTAINER_ENGINE:-}
if [[ -z $engine ]]; then
    if command -v docker >/dev/null && docker info >/dev/null 2>&1; then
        engine=docker
    else
        engine=podman
    fi
fi
if [[ $engine == podman ]] && ! command -v podman >/dev/null; then
    say "installing podman with apt"
    [[ $(id -u) == 0 ]] || fail "podman is missing and installing it needs root"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends podman buildah \
            runc uidmap fuse-overlayfs slirp4netns catatonit debootstrap; } >"$work/apt.log" 2>&1; then
        tail -n 20 "$work/apt.log" >&2
        fail "apt-get install podman"
    fi
fi

engine_cmd=("$engine")
if [[ $engine == podman ]]; then
    # A store of our own under $work: a clean start on every run, removed whole at the end.
    engine_cmd+=(--root "$work/storage" --runroot "$work/run" --storage-driver overlay)
    if [[ -z ${CONTAINERS_CONF:-} ]]; then
        # Facts of this kind of machine (shared/notes/containers.md): crun fails on cgroups and
        # rlimits, so runc; the default rlimits are too high to set; builds use the host network.
        {
            echo '[containers]'
            echo 'default_ulimits = ["nofile=1024:1024", "nproc=4096:4096"]'
            echo 'netns = "host"'
            if command -v runc >/dev/null; then
                printf '[engine]\nruntime = "runc"\n'
            fi
        } >"$work/containers.conf"
        export CONTAINERS_CONF="$work/containers.conf"
    fi
fi
engine() { "${engine_cmd[@]}" "$@"; }

cleanup() {
    local status=$?
    set +e
    # Only what this run made: in podman's throwaway store that is everything in it.
    # (Not `podman system reset`: it also deletes the host's podman networks.)
    if [[ $engine == podman ]]; then
        engine rm --force --all >/dev/null 2>&1
        engine volume rm --force --all >/dev/null 2>&1
        engine image rm --force --all >/dev/null 2>&1
    else
        engine rm --force "$emulator_container" "$bot_container"-{0,1} >/dev/null 2>&1
        engine volume rm --force "$volume" >/dev/null 2>&1
        engine image rm --force "$image" "$standin" >/dev/null 2>&1
    fi
    rm -rf "$work"
    if [[ $status == 0 ]]; then
        say "passed in $(( $(date +%s) - started )) s"
    fi
    exit "$status"
}
trap cleanup EXIT
say "engine: ${engine_cmd[*]}"

# --- 2. the base image ---------------------------------------------------------------------------
from_args=()
if engine image exists "$base" 2>/dev/null || engine image inspect "$base" >/dev/null 2>&1; then
    say "base $base is present"
elif timeout 120 "${engine_cmd[@]}" pull "$base" >"$work/pull.log" 2>&1; then
    say "pulled $base"
else
    say "cannot pull $base ($(tail -n 1 "$work/pull.log")); building a stand-in with debootstrap"
    [[ $engine == podman ]] || fail "no registry for $base: run with CONTAINER_ENGINE=podman"
    t0=$(date +%s)
    CONTAINER_ENGINE="${engine_cmd[*]}" scripts/container/build_standin_base.sh "$standin" "$work"
    say "stand-in base took $(( $(date +%s) - t0 )) s"
    from_args=(--from "$standin")
fi

# --- 3. the build --------------------------------------------------------------------------------
# pip inside the build must trust what the host's pip trusts and see the wheels the host's pip
# finds locally (here: the CPU build of torch). They are mounted for the build's RUN steps only,
# under /dev (a tmpfs there, so no mount point is left in the image), and named by build args.
build_args=(--build-arg "TORCH_VARIANT=$torch_variant")
pip_cert=${PIP_CERT:-$(python3 -m pip config get global.cert 2>/dev/null || true)}
pip_find_links=${PIP_FIND_LINKS:-$(python3 -m pip config get global.find-links 2>/dev/null || true)}
if [[ $engine == podman ]]; then
    if [[ -f $pip_cert ]]; then
        build_args+=(--volume "$pip_cert:/dev/host-pip-ca.crt:ro"
                     --build-arg PIP_CERT=/dev/host-pip-ca.crt)
    fi
    if [[ -d $pip_find_links ]]; then
        build_args+=(--volume "$pip_find_links:/dev/host-pip-wheels:ro"
                     --build-arg PIP_FIND_LINKS=/dev/host-pip-wheels)
    fi
    build_args+=(--format docker --network=host --pull=never "${from_args[@]}")
fi
torch_index="https://download.pytorch.org/whl/$torch_variant"
if ! python3 -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15)' \
        "$torch_index/torch/" 2>/dev/null; then
    # No PyTorch index: take torch from PyPI, which is only right when the host's find-links
    # folder holds the wanted build (a CPU wheel here; PyPI's own Linux torch is the CUDA build).
    compgen -G "$pip_find_links/torch-*+${torch_variant}-*.whl" >/dev/null \
        || fail "cannot reach $torch_index and no torch +$torch_variant wheel in find-links"
    say "PyTorch index unreachable; torch +$torch_variant comes from $pip_find_links"
    build_args+=(--build-arg "TORCH_INDEX_URL=${PIP_INDEX_URL:-https://pypi.org/simple}")
fi

say "building $image"
t0=$(date +%s)
if ! engine build "${build_args[@]}" --tag "$image" . >"$work/build.log" 2>&1; then
    tail -n 40 "$work/build.log" >&2
    fail "image build (last lines above)"
fi
build_s=$(( $(date +%s) - t0 ))
size_bytes=$(engine image inspect --format '{{.Size}}' "$image")
say "image built in ${build_s} s; size $(( size_bytes / 1000000 )) MB ($size_bytes bytes)"

# --- 4. offline self-test, then persistence in a second container --------------------------------
engine volume create "$volume" >/dev/null
say "run 1: --self-test with --network=none"
if ! timeout "$timeout_s" "${engine_cmd[@]}" run --rm --network=none --no-healthcheck \
        --volume "$volume:/data" "$image" --self-test; then
    fail "--self-test in the container"
fi

say "run 2: a new container on the same /data volume reads the settings back"
if ! timeout "$timeout_s" "${engine_cmd[@]}" run --rm --interactive --network=none --no-healthcheck \
        --volume "$volume:/data" --entrypoint python "$image" - \
        <scripts/container/check_image.py; then
    fail "settings did not persist on the /data volume"
fi

# --- 5. serving for real, as compose.yaml runs it, in two shards sharing /data -----------------
# Each shard is a container like compose.yaml's (read-only, /tmp on tmpfs, no capabilities) with
# SHARD_COUNT=2 and its own SHARD_IDS, all on the one settings volume: the scale-out of
# docs/deploy.md. Each must pass its HEALTHCHECK while it serves, then stop with status 0 on SIGTERM.
shards=(0 1)
say "run 3: ${#shards[@]} shards serving the emulator (in a container beside them), HEALTHCHECK, SIGTERM"
engine run --detach --name "$emulator_container" --network=none --no-healthcheck \
    --entrypoint python "$image" -c "$(<scripts/container/serve_emulator.py)" "${#shards[@]}" >/dev/null
wait_for_log() {  # CONTAINER PATTERN SECONDS: until a line of its log matches, or fail
    local waited=0
    until engine logs "$1" 2>&1 | grep -q -E "$2"; do
        (( waited++ < $3 )) || fail "no '$2' in the log of $1 after $3 s: $(engine logs "$1" 2>&1 | tail -n 20)"
        sleep 1
    done
}
wait_for_log "$emulator_container" '^BOT_ENV ' 60
engine logs "$emulator_container" 2>/dev/null | sed -n 's/^BOT_ENV //p' | python3 -c \
    'import json, sys; print(*(f"{k}={v}" for k, v in json.load(sys.stdin).items()), sep="\n")' \
    >"$work/bot.env"
run_options=(--network="container:$emulator_container" --volume "$volume:/data"
             --env-file "$work/bot.env" --env SHARD_COUNT="${#shards[@]}"
             --read-only --tmpfs /tmp --cap-drop ALL --security-opt no-new-privileges)
# podman complains on stderr that it cannot set systemd timers for the HEALTHCHECK here (the
# check is run by hand below), so stderr of starting and stopping goes to a log unless it fails.
for shard in "${shards[@]}"; do
    engine run --detach --name "$bot_container-$shard" "${run_options[@]}" --env SHARD_IDS="$shard" \
        "$image" >/dev/null 2>>"$work/engine.log" \
        || { cat "$work/engine.log" >&2; fail "start shard $shard"; }
done
shard_logs() {
    for shard in "${shards[@]}"; do
        engine logs "$bot_container-$shard" 2>&1 | tail -n 20 | sed "s/^/shard $shard: /" >&2
    done
}
waited=0
until engine logs "$emulator_container" 2>&1 | grep -q -E '^(READY|NOT READY)'; do
    for shard in "${shards[@]}"; do
        if [[ $(engine inspect --format '{{.State.Running}}' "$bot_container-$shard") != true ]]; then
            shard_logs
            fail "shard $shard exited before it connected"
        fi
    done
    (( waited++ < 300 )) || { shard_logs; fail "the shards did not connect within 300 s"; }
    sleep 1
done
if ! engine logs "$emulator_container" 2>&1 | grep -q '^READY'; then
    shard_logs
    fail "the shards did not connect to the emulator ($(engine logs "$emulator_container" 2>&1 | tail -n 1))"
fi
say "both shards connected; asking their HEALTHCHECKs"
for shard in "${shards[@]}"; do
    healthy=0
    for _ in $(seq 10); do  # the first heartbeat may follow the connection by a moment
        if [[ $engine == podman ]]; then
            engine healthcheck run "$bot_container-$shard" >/dev/null 2>&1 && { healthy=1; break; }
        else
            engine exec "$bot_container-$shard" python -m bot healthcheck >/dev/null 2>&1 \
                && { healthy=1; break; }
        fi
        sleep 2
    done
    (( healthy )) || fail "shard $shard is unhealthy while it serves: $(engine exec \
        "$bot_container-$shard" python -m bot healthcheck 2>&1)"
done
say "healthy; stopping them with SIGTERM"
for shard in "${shards[@]}"; do
    t0=$(date +%s)
    engine stop --time 30 "$bot_container-$shard" >/dev/null 2>>"$work/engine.log" \
        || { cat "$work/engine.log" >&2; fail "stop shard $shard"; }
    stop_s=$(( $(date +%s) - t0 ))
    status=$(engine inspect --format '{{.State.ExitCode}}' "$bot_container-$shard")
    if [[ $status != 0 ]]; then
        engine logs "$bot_container-$shard" 2>&1 | tail -n 30 >&2
        fail "shard $shard exited with status $status after SIGTERM (137: it had to be killed)"
    fi
    say "shard $shard stopped cleanly in ${stop_s} s with status 0"
done
