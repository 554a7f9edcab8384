#!/usr/bin/env bash
# tests/container/run.sh: the container test (docs/deploy.md). Builds the image, then runs its
# `release`, `web` and `worker` containers against a database of its own on the project's
# PostgreSQL, a Redis of its own and the fake GetImg on this host (host network), and walks
# headshots through the containers' API: one from upload to the downloaded result; one whose
# worker container is stopped mid-job (SIGTERM), handing the job back, and a second worker
# container finishing it. Checks the processes run as a non-root user, on a read-only root
# file system, that beat and flower start, and that web and worker exit cleanly on SIGTERM.
# Not part of ./run test; .ci/run runs it after the suites.
#
# What is particular to these machines lives here, never in the Dockerfile: Debian's podman
# with runc and a containers.conf of our own (cgroupfs, no default ulimits); no registry, so
# the base image debian:bookworm-slim is made with debootstrap from Debian's packages (its
# tarball is kept in var/container/ for the next run); PyPI checked with this machine's CA
# bundle, handed to pip inside the build by a mounted pip.conf.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"

IMAGE="${HEADSHOTS_TEST_IMAGE:-localhost/headshots:test}"
BASE_IMAGE=docker.io/library/debian:bookworm-slim
DEBIAN_MIRROR=http://deb.debian.org/debian
CACHE="$ROOT/var/container"
BASE_TARBALL="$CACHE/debian-bookworm-minbase.tar"
CA_BUNDLE="${PIP_CERT:-/etc/ssl/certs/ca-certificates.crt}"
RUN_ID="$(date +%H%M%S)-$$"
WORK="$CACHE/run-$RUN_ID"
NAME="hs-ctest-$RUN_ID"
PY="$ROOT/.venv/bin/python"
# The job a worker is stopped in the middle of must still be running when SIGTERM comes: the
# fake GetImg answers after GETIMG_LATENCY_MS, the worker's grace is WORKER_GRACE_SECONDS.
GETIMG_LATENCY_MS=8000
WORKER_GRACE_SECONDS=2
export DEBIAN_FRONTEND=noninteractive CONTAINERS_CONF="$WORK/containers.conf"

started=$SECONDS
say() { printf '==> [%s +%3ds] %s\n' "$(date +%H:%M:%S)" "$((SECONDS - started))" "$*"; }
die() { printf 'container test: FAILED: %s\n' "$*" >&2; exit 1; }

ensure_tools() {
  local missing=()
  command -v podman >/dev/null 2>&1 || missing+=(podman)
  command -v runc >/dev/null 2>&1 || missing+=(runc)
  command -v debootstrap >/dev/null 2>&1 || missing+=(debootstrap)
  if ((${#missing[@]} > 0)); then
    say "apt-get install ${missing[*]}"
    apt-get update -q </dev/null >/dev/null
    apt-get install -y -q --no-install-recommends "${missing[@]}" </dev/null >/dev/null
  fi
}

write_configs() {
  mkdir -p "$WORK"
  cat >"$WORK/containers.conf" <<'CONF'
[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
runtime = "runc"
CONF
  # pip inside the build: this machine's CA bundle, and its index if it names one.
  local index
  index="${PIP_INDEX_URL:-$(python3 -m pip config get global.index-url 2>/dev/null || true)}"
  {
    printf '[global]\ncert = /run/host-ca.crt\n'
    [[ -z "$index" ]] || printf 'index-url = %s\n' "$index"
  } >"$WORK/pip.conf"
}

# debian:bookworm-slim as the Dockerfile's FROM expects it, from Debian's own packages.
ensure_base_image() {
  if podman image exists "$BASE_IMAGE"; then
    return
  fi
  if [[ ! -s "$BASE_TARBALL" ]]; then
    say "debootstrap --variant=minbase bookworm (log: $WORK/debootstrap.log)"
    local rootfs="$WORK/rootfs"
    debootstrap --variant=minbase bookworm "$rootfs" "$DEBIAN_MIRROR" >"$WORK/debootstrap.log" 2>&1 ||
      die "debootstrap failed (see $WORK/debootstrap.log)"
    # As the registry's image is: no package cache or lists, and the deb822 sources it has.
    rm -rf "$rootfs"/var/cache/apt/*.bin "$rootfs"/var/cache/apt/archives/*.deb \
      "$rootfs"/var/lib/apt/lists/* "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SOURCES
Types: deb
URIs: $DEBIAN_MIRROR
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SOURCES
    tar -C "$rootfs" -cf "$BASE_TARBALL.part" . && mv "$BASE_TARBALL.part" "$BASE_TARBALL"
    rm -rf "$rootfs"
  fi
  say "podman import $BASE_TARBALL as $BASE_IMAGE"
  podman import -q "$BASE_TARBALL" "$BASE_IMAGE" >/dev/null
}

build_image() {
  say "podman build -t $IMAGE (log: $WORK/build.log)"
  local build_started=$SECONDS
  # The host's network: no bridge (CNI, iptables) needed for apt and pip in the build.
  podman build --network host -t "$IMAGE" \
    -v "$CA_BUNDLE:/run/host-ca.crt:ro" -v "$WORK/pip.conf:/etc/pip.conf:ro" \
    . >"$WORK/build.log" 2>&1 || { tail -n 30 "$WORK/build.log" >&2; die "podman build failed"; }
  local size
  size="$(podman image inspect -f '{{.Size}}' "$IMAGE")"
  say "built in $((SECONDS - build_started)) s; image size $((size / 1000 / 1000)) MB"
  ((size < 500 * 1000 * 1000)) || die "the image is $size bytes, over 500 MB"
}

free_port() { "$PY" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# wait_for SECONDS WHAT COMMAND...: polls COMMAND every 0.2 s.
wait_for() {
  local seconds="$1" what="$2" deadline=$((SECONDS + $1))
  shift 2
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what: not after $seconds s"
    sleep 0.2
  done
}

DB_NAME="headshots_ctest_${RUN_ID//-/_}"
pids=()
containers=()
volumes=("$NAME-media")

start_host_services() {
  local redis_port getimg_port
  redis_port="$(free_port)"
  getimg_port="$(free_port)"
  say "database $DB_NAME; redis-server on :$redis_port; fake GetImg on :$getimg_port"
  DATABASE_URL="$("$PY" -c 'import sys; from devstack.database import create_database
print(create_database(sys.argv[1]))' "$DB_NAME")"
  redis-server --bind 127.0.0.1 --port "$redis_port" --save "" --appendonly no \
    --maxmemory-policy noeviction >"$WORK/redis.log" 2>&1 &
  pids+=("$!")
  "$PY" -m fakes.getimg --host 127.0.0.1 --port "$getimg_port" \
    --latency-ms "$GETIMG_LATENCY_MS" >"$WORK/getimg.log" 2>&1 &
  pids+=("$!")
  wait_for 15 "redis on :$redis_port" redis-cli -p "$redis_port" ping
  wait_for 15 "fake GetImg on :$getimg_port" grep -q listening "$WORK/getimg.log"
  WEB_PORT="$(free_port)"
  FLOWER_PORT="$(free_port)"
  FLOWER_BASIC_AUTH="ops:$(head -c 12 /dev/urandom | base64 | tr -d '/+=')"
  BASE_URL="http://127.0.0.1:$WEB_PORT"
  JWT_SECRET="container-test-$(head -c 24 /dev/urandom | base64 | tr -d '/+=')"
  export JWT_SECRET
  cat >"$WORK/env" <<ENV
DATABASE_URL=$DATABASE_URL
REDIS_URL=redis://127.0.0.1:$redis_port/0
JWT_SECRET=$JWT_SECRET
GETIMG_API_URL=http://127.0.0.1:$getimg_port
GETIMG_API_KEY=sk_container_test
PORT=$WEB_PORT
PUBLIC_BASE_URL=$BASE_URL
WORKER_CONCURRENCY=2
WORKER_SHUTDOWN_GRACE_SECONDS=$WORKER_GRACE_SECONDS
FLOWER_BASIC_AUTH=$FLOWER_BASIC_AUTH
LOG_FORMAT=text
ENV
}

# run_container NAME PROCESS [PODMAN ARGS...]: a detached container of the image on the host
# network, its root file system read-only as in deploy/kubernetes/ (var/ a volume of its
# own), the media volume shared (MEDIA_ROOT), as web and worker share it in compose.yaml.
run_container() {
  local name="$1" process="$2"
  shift 2
  podman run -d --name "$NAME-$name" --hostname "$name" --network host --env-file "$WORK/env" \
    --read-only -v "$NAME-var-$name:/app/var" -v "$NAME-media:/app/var/media" "$@" \
    "$IMAGE" "$process" >/dev/null
  containers+=("$NAME-$name")
  volumes+=("$NAME-var-$name")
}

# grep reads all the log (no -q): podman logs must not die of SIGPIPE under pipefail.
worker_ready() { podman logs "$NAME-$1" 2>&1 | grep ' ready\.' >/dev/null; }
beat_sent_a_job() { podman logs "$NAME-beat" 2>&1 | grep 'Sending due task' >/dev/null; }
flower_answers() {
  "$PY" -c 'import base64, sys, urllib.request
request = urllib.request.Request(sys.argv[1], headers={
    "Authorization": "Basic " + base64.b64encode(sys.argv[2].encode()).decode()})
urllib.request.urlopen(request, timeout=2)' "http://127.0.0.1:$FLOWER_PORT/healthcheck" "$FLOWER_BASIC_AUTH"
}
web_ready() { "$PY" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' "$BASE_URL/readyz"; }
exit_code() { podman inspect -f '{{.State.ExitCode}}' "$NAME-$1"; }
walk() { "$PY" -m tests.container.walk --base-url "$BASE_URL" "$@"; }

cleanup() {
  local status=$?
  trap - EXIT
  local container
  for container in "${containers[@]}"; do
    podman logs "$container" >"$WORK/$container.log" 2>&1 || true
    podman rm -f -t 0 "$container" >/dev/null 2>&1 || true
  done
  podman volume rm -f "${volumes[@]}" >/dev/null 2>&1 || true
  local pid
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  "$PY" -c 'import sys; from devstack.database import drop_database
drop_database(sys.argv[1])' "$DB_NAME" >/dev/null 2>&1 || true
  if ((status == 0)); then
    rm -rf "$WORK"
    say "container test passed in $((SECONDS - started)) s"
  else
    printf 'container test: logs kept in %s\n' "$WORK" >&2
  fi
  exit "$status"
}

say "container test: setup and services"
"$ROOT/run" setup >/dev/null
"$ROOT/run" services >/dev/null
ensure_tools
write_configs
trap cleanup EXIT
trap 'exit 143' TERM INT
ensure_base_image
build_image

uid="$(podman run --rm --network none "$IMAGE" id -u)"
[[ "$uid" =~ ^[0-9]+$ && "$uid" != 0 ]] || die "the image runs as uid '$uid', not a non-root user"
podman run --rm --network none "$IMAGE" python -c '
import importlib.util, shutil, sys
found = [name for name in ("pytest", "mypy", "moto", "playwright", "pip")
         if importlib.util.find_spec(name)]
found += [tool for tool in ("gcc", "cc", "make") if shutil.which(tool)]
sys.exit(f"in the image: {found}" if found else 0)' || die "the image holds dev or build tools"
say "the image runs as uid $uid; no dev package, pip or compiler in it"

start_host_services
say "release (alembic upgrade head) in a container"
podman run --rm --network host --env-file "$WORK/env" "$IMAGE" release >"$WORK/release.log" 2>&1 ||
  { cat "$WORK/release.log" >&2; die "the release container failed"; }
say "web, worker-1, beat and flower containers"
run_container web web
run_container worker-1 worker
run_container beat beat
run_container flower flower -e FLOWER_PORT="$FLOWER_PORT"
wait_for 60 "web's /readyz" web_ready
wait_for 60 "worker-1 ready" worker_ready worker-1
uid="$(podman exec "$NAME-web" id -u)"
[[ "$uid" != 0 ]] || die "web runs as root"
wait_for 60 "flower's /healthcheck" flower_answers

say "one headshot through the containers"
walk headshot

say "a headshot whose worker container is stopped mid-job"
started_job="$(walk start)"
printf '%s\n' "$started_job"
read -r user_id headshot_id <<<"$(tail -n 1 <<<"$started_job")"
podman stop -t 60 "$NAME-worker-1" >/dev/null
[[ "$(exit_code worker-1)" == 0 ]] || die "worker-1 exited $(exit_code worker-1) on SIGTERM, not 0"
handed="$(podman logs "$NAME-worker-1" 2>&1 | grep -o 'grace over; [0-9]* jobs handed back' || true)"
[[ "$handed" =~ \ ([1-9][0-9]*)\ jobs ]] || die "worker-1 did not hand its job back: '$handed'"
status="$(walk status "$user_id" "$headshot_id")"
[[ "$status" == queued ]] || die "after worker-1 stopped, the headshot is $status, not queued"
say "worker-1 stopped (SIGTERM, exit 0): $handed; the headshot is $status"
run_container worker-2 worker
wait_for 60 "worker-2 ready" worker_ready worker-2
# compose.yaml's health check of a worker, as compose runs it inside the container.
podman exec "$NAME-worker-2" sh -c \
  'celery -A workers.celery_app inspect ping --destination "worker@$HOSTNAME" --timeout 10' \
  >"$WORK/worker-ping.log" 2>&1 || { cat "$WORK/worker-ping.log" >&2; die "worker-2 does not answer ping"; }
walk finish "$user_id" "$headshot_id"
say "worker-2 finished it"

wait_for 30 "beat sending a scheduled job" beat_sent_a_job
say "beat sends the scheduled jobs; flower answers behind its basic auth"

podman stop -t 30 "$NAME-web" >/dev/null
[[ "$(exit_code web)" == 0 ]] || die "web exited $(exit_code web) on SIGTERM, not 0"
say "web stopped on SIGTERM (exit 0)"
