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
# 6. Runs compose.yaml's profile `scale` (its bot side) against a throwaway PostgreSQL on the host,
#    reached through its unix socket mounted into the containers: two shards and a trainer, /data
#    on tmpfs, sharing nothing but the database. All three must pass their HEALTHCHECK, the
#    database must hold the bot's schema, and SIGTERM must stop all three with status 0.
# 7. Removes every container, volume and image it made, stops PostgreSQL and deletes its files
#    (also when a step fails).
#
# Environment: CONTAINER_ENGINE (docker or podman), TORCH_VARIANT (default cpu),
# SMOKE_TIMEOUT (seconds for each container run, default 300), PG_BIN (the folder of PostgreSQL's
# initdb and pg_ctl; default: from PATH, else the newest /usr/lib/postgresql/N/bin, else
# apt-installed).
set -euo pipefail
cd "$(dirname "$0")/.."

started=$(date +%s)
run_id="$(date +%s)-$$"
image="localhost/shakespeare-bot:smoke-$run_id"
standin="localhost/shakespeare-bot-standin-base:$run_id"
volume="shakespeare-bot-smoke-$run_id"
emulator_container="shakespeare-bot-smoke-emulator-$run_id"
bot_container="shakespeare-bot-smoke-bot-$run_id"
pg_emulator_container="shakespeare-bot-smoke-pg-emulator-$run_id"
pg_shard_container="shakespeare-bot-smoke-pg-shard-$run_id"
pg_trainer_container="shakespeare-bot-smoke-pg-trainer-$run_id"
base=python:3.11-slim
torch_variant=${TORCH_VARIANT:-cpu}
timeout_s=${SMOKE_TIMEOUT:-300}
work=$(mktemp -d /var/tmp/container-smoke.XXXXXX)
pg_root=""  # run 4's PostgreSQL: its data and socket folders (a folder of its own, see there)

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

# Run 4's PostgreSQL server: initdb and pg_ctl (Debian's postgresql package; .ci/run installs it).
pg_bin=${PG_BIN:-}
if [[ -z $pg_bin ]]; then
    if command -v initdb >/dev/null; then
        # Where the binaries really are (PATH may hold symlinks to initdb alone), psql among them.
        pg_bin=$(dirname "$(readlink -f "$(command -v initdb)")")
    else
        pg_bin=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1 || true)
    fi
fi
if [[ ! -x $pg_bin/initdb ]]; then
    say "installing postgresql with apt"
    [[ $(id -u) == 0 ]] || fail "PostgreSQL's initdb is missing (set PG_BIN) and installing it needs root"
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq && apt-get install -y -qq postgresql; } >"$work/apt-pg.log" 2>&1; then
        tail -n 20 "$work/apt-pg.log" >&2
        fail "apt-get install postgresql"
    fi
    pg_bin=$(compgen -G '/usr/lib/postgresql/*/bin' | sort -V | tail -n 1)
fi
# initdb and postgres refuse to run as root: as root they run as Debian's `postgres` user.
as_pg=()
if [[ $(id -u) == 0 ]]; then
    as_pg=(runuser -u postgres --)
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
        engine rm --force "$emulator_container" "$bot_container"-{0,1} "$pg_emulator_container" \
            "$pg_shard_container"-{0,1} "$pg_trainer_container" >/dev/null 2>&1
        engine volume rm --force "$volume" >/dev/null 2>&1
        engine image rm --force "$image" "$standin" >/dev/null 2>&1
    fi
    # After the containers: nothing is connected any more.
    if [[ -n $pg_root ]]; then
        if [[ -f $pg_root/data/postmaster.pid ]]; then
            (cd "$pg_root" && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -m fast -w -t 30 stop) \
                >/dev/null 2>&1
        fi
        rm -rf "$pg_root"
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
show_logs() {  # CONTAINER...: the last lines of each one's log, on stderr
    local container
    for container in "$@"; do
        engine logs "$container" 2>&1 | tail -n 20 | sed "s/^/$container: /" >&2
    done
}
wait_until_ready() {  # EMULATOR CONTAINER...: until the emulator says READY; fail if one exits first
    local emulator=$1 waited=0 container
    shift
    until engine logs "$emulator" 2>&1 | grep -q -E '^(READY|NOT READY)'; do
        for container in "$@"; do
            if [[ $(engine inspect --format '{{.State.Running}}' "$container") != true ]]; then
                show_logs "$container"
                fail "$container exited before the shards connected"
            fi
        done
        (( waited++ < 300 )) || { show_logs "$@"; fail "the shards did not connect within 300 s"; }
        sleep 1
    done
    if ! engine logs "$emulator" 2>&1 | grep -q '^READY'; then
        show_logs "$@"
        fail "the shards did not connect to the emulator ($(engine logs "$emulator" 2>&1 | tail -n 1))"
    fi
}
require_healthy() {  # CONTAINER: its HEALTHCHECK passes within about 20 s, or fail
    local _
    for _ in $(seq 10); do  # the first heartbeat may follow the connection by a moment
        if [[ $engine == podman ]]; then
            engine healthcheck run "$1" >/dev/null 2>&1 && return 0
        else
            engine exec "$1" python -m bot healthcheck >/dev/null 2>&1 && return 0
        fi
        sleep 2
    done
    fail "$1 is unhealthy while it runs: $(engine exec "$1" python -m bot healthcheck 2>&1)"
}
wait_until_ready "$emulator_container" "${shards[@]/#/$bot_container-}"
say "both shards connected; asking their HEALTHCHECKs"
for shard in "${shards[@]}"; do
    require_healthy "$bot_container-$shard"
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
engine rm --force "$emulator_container" >/dev/null 2>&1 || true  # run 4 has an emulator of its own

# --- 6. compose.yaml's profile `scale` over PostgreSQL: two shards and a trainer -----------------
# As that profile runs them (read-only, /tmp and /data on tmpfs, no capabilities): the shards with
# SHARD_COUNT=2, DATABASE_URL and VOICE_TRAINER=off, the trainer with DATABASE_URL and no token.
# They share no volume, only the database: a throwaway PostgreSQL on the host that listens on a
# unix socket alone, in a folder bind-mounted into each container (they have no network of their
# own: the shards share the emulator's, the trainer has none). Its data and socket are in a folder
# of their own, since $work is root's alone and the server runs as the postgres user; the socket
# folder is 0755 so that the containers' user (10001) reaches the socket (0777, the default).
say "run 4: 2 shards and a trainer over PostgreSQL (its socket mounted from the host), HEALTHCHECK, SIGTERM"
run4_started=$(date +%s)
pg_root=$(mktemp -d /var/tmp/container-smoke-pg.XXXXXX)
mkdir "$pg_root/socket"
chmod 0755 "$pg_root" "$pg_root/socket"
if (( ${#as_pg[@]} )); then
    chown -R postgres:postgres "$pg_root"
fi
t0=$(date +%s)
# Trust for local connections (there are no others); fsync off: nothing here must survive a crash.
if ! (cd "$pg_root" && "${as_pg[@]}" "$pg_bin/initdb" -D "$pg_root/data" -U postgres -A trust -E UTF8 \
        --locale=C --no-sync --no-instructions) >"$work/initdb.log" 2>&1; then
    tail -n 20 "$work/initdb.log" >&2
    fail "initdb ($pg_bin)"
fi
if ! (cd "$pg_root" && "${as_pg[@]}" "$pg_bin/pg_ctl" -D "$pg_root/data" -l "$pg_root/server.log" -w -t 60 \
        -o "-c listen_addresses='' -k $pg_root/socket -c fsync=off -c full_page_writes=off -c shared_buffers=16MB" \
        start) >"$work/pg_ctl.log" 2>&1; then
    cat "$work/pg_ctl.log" "$pg_root/server.log" >&2
    fail "pg_ctl start ($pg_bin)"
fi
say "PostgreSQL $("$pg_bin/postgres" --version | awk '{print $3}') started in $(( $(date +%s) - t0 )) s, socket in $pg_root/socket"
psql_host() { "$pg_bin/psql" -X -q -A -t -v ON_ERROR_STOP=1 -h "$pg_root/socket" -U postgres -d postgres -c "$1"; }

engine run --detach --name "$pg_emulator_container" --network=none --no-healthcheck \
    --entrypoint python "$image" -c "$(<scripts/container/serve_emulator.py)" "${#shards[@]}" >/dev/null
wait_for_log "$pg_emulator_container" '^BOT_ENV ' 60
engine logs "$pg_emulator_container" 2>/dev/null | sed -n 's/^BOT_ENV //p' | python3 -c \
    'import json, sys; print(*(f"{k}={v}" for k, v in json.load(sys.stdin).items()), sep="\n")' \
    >"$work/bot-pg.env"
# A socket needs no write access to its mount: connect() on a read-only mount works.
pg_options=(--read-only --tmpfs /tmp --tmpfs /data --cap-drop ALL --security-opt no-new-privileges
            --volume "$pg_root/socket:/run/postgresql:ro"
            --env DATABASE_URL="postgresql://postgres@/postgres?host=/run/postgresql")
for shard in "${shards[@]}"; do
    engine run --detach --name "$pg_shard_container-$shard" --network="container:$pg_emulator_container" \
        "${pg_options[@]}" --env-file "$work/bot-pg.env" --env SHARD_COUNT="${#shards[@]}" \
        --env SHARD_IDS="$shard" --env VOICE_TRAINER=off "$image" >/dev/null 2>>"$work/engine.log" \
        || { cat "$work/engine.log" >&2; fail "start shard $shard over PostgreSQL"; }
done
engine run --detach --name "$pg_trainer_container" --network=none "${pg_options[@]}" "$image" trainer \
    >/dev/null 2>>"$work/engine.log" || { cat "$work/engine.log" >&2; fail "start the trainer"; }
pg_containers=("${shards[@]/#/$pg_shard_container-}" "$pg_trainer_container")
wait_until_ready "$pg_emulator_container" "${pg_containers[@]}"
say "both shards connected; asking the HEALTHCHECKs of the shards and the trainer"
for container in "${pg_containers[@]}"; do
    require_healthy "$container"
done
# The schema the image's bot knows, made by them (all three migrate at start, taking turns); the
# shards' LISTEN connections; the trainer polling the job queue, not waiting for its database.
schema=$(engine exec "$pg_trainer_container" python -c \
    'from bot.storage.schema import SCHEMA_VERSION; print(SCHEMA_VERSION)') || fail "read the image's SCHEMA_VERSION"
versions=$(psql_host "SELECT count(*) || ' ' || coalesce(max(number), 0) FROM schema_migrations") \
    || fail "no schema_migrations table in PostgreSQL"
[[ $versions == "$schema $schema" ]] \
    || fail "schema_migrations holds (rows, highest) $versions; the image's bot has $schema migrations"
missing=$(psql_host "SELECT string_agg(name, ', ') FROM unnest(ARRAY['guild_settings', 'user_settings',
    'bot_state', 'replies', 'voices', 'voice_jobs']) AS name WHERE to_regclass(name) IS NULL") \
    || fail "psql could not list the tables"
[[ -z $missing ]] || fail "tables missing in PostgreSQL: $missing"
listeners=$(psql_host "SELECT count(*) FROM pg_stat_activity WHERE application_name = 'shakespeare-bot listener'") \
    || fail "psql could not read pg_stat_activity"
[[ $listeners == "${#shards[@]}" ]] \
    || fail "$listeners LISTEN connections to PostgreSQL, not one per shard (${#shards[@]})"
if engine logs "$pg_trainer_container" 2>&1 | grep -q 'cannot reach its database'; then
    show_logs "$pg_trainer_container"
    fail "the trainer cannot reach PostgreSQL"
fi
say "PostgreSQL holds schema version $schema with the bot's tables and both shards' LISTEN connections"
say "healthy; stopping all three with SIGTERM"
t0=$(date +%s)
engine stop --time 30 "${pg_containers[@]}" >/dev/null 2>>"$work/engine.log" \
    || { cat "$work/engine.log" >&2; fail "stop the shards and the trainer"; }
stop_s=$(( $(date +%s) - t0 ))
for container in "${pg_containers[@]}"; do
    status=$(engine inspect --format '{{.State.ExitCode}}' "$container")
    if [[ $status != 0 ]]; then
        engine logs "$container" 2>&1 | tail -n 30 >&2
        fail "$container exited with status $status after SIGTERM (137: it had to be killed)"
    fi
done
say "the shards and the trainer stopped cleanly in ${stop_s} s with status 0 (run 4: $(( $(date +%s) - run4_started )) s)"
