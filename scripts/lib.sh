# Shared by scripts/run and scripts/test: find or install what Cadence needs.
#
#   cadence_prepare   uv + Python 3.13 + the locked virtualenv (.venv)
#   cadence_services  DATABASE_URL and REDIS_URL: the ones you set, else servers already answering
#                     on 127.0.0.1:5432 / :6379, else a project-local Postgres and Redis under
#                     .local/ (installed from Debian packages when missing), stopped on exit.
# shellcheck shell=bash

CADENCE_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CADENCE_LOCAL="${CADENCE_LOCAL_DIR:-$CADENCE_ROOT/.local}"
LOCAL_PG_PORT="${CADENCE_LOCAL_PG_PORT:-54329}"
LOCAL_REDIS_PORT="${CADENCE_LOCAL_REDIS_PORT:-63799}"
CADENCE_STARTED_PG=""
CADENCE_STARTED_REDIS=""

say() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    die "need root to run: $*"; fi
}

apt_install() {
  command -v apt-get >/dev/null || die "$* is missing and this is not a Debian/Ubuntu machine; install it, or set DATABASE_URL / REDIS_URL."
  say "Installing $* (Debian packages)"
  # Another apt or dpkg (unattended upgrades, a second run) may hold the lock: wait for it,
  # up to CADENCE_APT_LOCK_WAIT seconds, rather than fail at once.
  local wait=(-o "DPkg::Lock::Timeout=${CADENCE_APT_LOCK_WAIT:-300}")
  if command -v fuser >/dev/null && fuser /var/lib/dpkg/lock-frontend >/dev/null 2>&1; then
    say "Another apt/dpkg is running: waiting for it (up to ${CADENCE_APT_LOCK_WAIT:-300} s)"
  fi
  as_root env DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -q "$@" >/dev/null 2>&1 \
    || { as_root apt-get "${wait[@]}" update -q >/dev/null 2>&1 && as_root env DEBIAN_FRONTEND=noninteractive apt-get "${wait[@]}" install -y -q "$@" >/dev/null; } \
    || die "could not install $*"
}

find_python313() {
  local candidate
  for candidate in "$(command -v python3.13 2>/dev/null)" \
      "$(PYENV_VERSION=3.13.0 pyenv which python 2>/dev/null)" \
      "$HOME"/.pyenv/versions/3.13*/bin/python /root/.pyenv/versions/3.13*/bin/python; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] \
        && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null; then
      echo "$candidate"; return 0
    fi
  done
  return 1
}

cadence_prepare() {
  if ! command -v uv >/dev/null; then
    if [ ! -x "$CADENCE_LOCAL/uv/bin/uv" ]; then
      say "Installing uv into $CADENCE_LOCAL/uv"
      mkdir -p "$CADENCE_LOCAL"
      python3 -m venv "$CADENCE_LOCAL/uv" && "$CADENCE_LOCAL/uv/bin/pip" install -q uv \
        || die "could not install uv (see https://docs.astral.sh/uv/)"
    fi
    export PATH="$CADENCE_LOCAL/uv/bin:$PATH"
  fi
  if [ -z "${UV_PYTHON:-}" ]; then
    local python
    # A local 3.13 (pyenv hides it from uv) is used as is; otherwise uv downloads one.
    if python="$(find_python313)"; then
      export UV_PYTHON="$python" UV_PYTHON_DOWNLOADS="${UV_PYTHON_DOWNLOADS:-never}"
    fi
  fi
  say "Syncing the virtualenv from uv.lock"
  (cd "$CADENCE_ROOT" && uv sync --frozen --quiet) || die "uv sync failed"
  CADENCE_PY="$CADENCE_ROOT/.venv/bin/python"
}

pg_answers() {  # $1: connection URL
  "$CADENCE_PY" - "$1" <<'PY' 2>/dev/null
import sys, psycopg
psycopg.connect(sys.argv[1], connect_timeout=3).close()
PY
}

redis_answers() {  # $1: redis URL
  "$CADENCE_PY" - "$1" <<'PY' 2>/dev/null
import sys, redis
redis.Redis.from_url(sys.argv[1], socket_connect_timeout=3).ping()
PY
}

pg_bindir() {
  local dir
  dir="$(pg_config --bindir 2>/dev/null)"
  if [ -n "$dir" ] && [ -x "$dir/initdb" ]; then echo "$dir"; return 0; fi
  for dir in /usr/lib/postgresql/*/bin; do
    [ -x "$dir/initdb" ] && { echo "$dir"; return 0; }
  done
  return 1
}

start_local_postgres() {
  local bindir base data runas=()
  bindir="$(pg_bindir)" || { apt_install postgresql; bindir="$(pg_bindir)" || die "initdb not found"; }
  # base holds the socket and log; data is the cluster itself, which must stay private (0700).
  base="$CADENCE_LOCAL/pg"
  data="$base/data"
  mkdir -p "$base" && chmod 755 "$CADENCE_LOCAL" "$base"
  if [ "$(id -u)" = 0 ]; then
    # postgres refuses to run as root: the cluster belongs to the postgres user.
    id postgres >/dev/null 2>&1 || useradd --system --home-dir "$base" postgres
    chown postgres "$base"
    runas=(runuser -u postgres --)
    "${runas[@]}" test -w "$base" || die "the postgres user cannot reach $base; set CADENCE_LOCAL_DIR to a directory it can traverse"
  fi
  if [ ! -f "$data/PG_VERSION" ]; then
    say "Creating a project-local PostgreSQL cluster in $data"
    "${runas[@]}" "$bindir/initdb" -D "$data" -U postgres -A trust -E UTF8 >/dev/null || die "initdb failed"
  fi
  if "${runas[@]}" "$bindir/pg_ctl" -D "$data" status >/dev/null 2>&1; then
    say "Reusing the project-local PostgreSQL already running from $data"
    return 0
  fi
  say "Starting project-local PostgreSQL on 127.0.0.1:$LOCAL_PG_PORT"
  "${runas[@]}" "$bindir/pg_ctl" -D "$data" -l "$base/server.log" -w \
    -o "-p $LOCAL_PG_PORT -k $base -c listen_addresses=127.0.0.1" start >/dev/null \
    || die "PostgreSQL did not start; see $base/server.log"
  CADENCE_STARTED_PG="${runas[*]} $bindir/pg_ctl -D $data -m fast stop"
}

start_local_redis() {
  if redis_answers "redis://127.0.0.1:$LOCAL_REDIS_PORT/0"; then
    say "Reusing the project-local Redis already running on port $LOCAL_REDIS_PORT"
    return 0
  fi
  command -v redis-server >/dev/null || apt_install redis-server
  mkdir -p "$CADENCE_LOCAL/redis"
  say "Starting project-local Redis on 127.0.0.1:$LOCAL_REDIS_PORT"
  redis-server --port "$LOCAL_REDIS_PORT" --bind 127.0.0.1 --daemonize yes --save "" \
    --appendonly no --dir "$CADENCE_LOCAL/redis" --pidfile "$CADENCE_LOCAL/redis/redis.pid" \
    --logfile "$CADENCE_LOCAL/redis/redis.log" || die "Redis did not start"
  local tries=0
  until redis_answers "redis://127.0.0.1:$LOCAL_REDIS_PORT/0"; do
    tries=$((tries + 1)); [ "$tries" -gt 50 ] && die "Redis did not answer"; sleep 0.1
  done
  CADENCE_STARTED_REDIS="$CADENCE_LOCAL/redis/redis.pid"
}

cadence_stop_services() {
  if [ -n "$CADENCE_STARTED_REDIS" ] && [ -f "$CADENCE_STARTED_REDIS" ]; then
    kill "$(cat "$CADENCE_STARTED_REDIS")" 2>/dev/null || true
    CADENCE_STARTED_REDIS=""
  fi
  if [ -n "$CADENCE_STARTED_PG" ]; then
    $CADENCE_STARTED_PG >/dev/null 2>&1 || true
    CADENCE_STARTED_PG=""
  fi
}

cadence_services() {  # $1: database name to use when we choose the server
  local dbname="$1"
  if [ -z "${DATABASE_URL:-}" ]; then
    if pg_answers "postgresql://postgres@127.0.0.1:5432/postgres"; then
      export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$dbname"
    else
      start_local_postgres
      export DATABASE_URL="postgres://postgres@127.0.0.1:$LOCAL_PG_PORT/$dbname"
    fi
  fi
  "$CADENCE_PY" "$CADENCE_ROOT/scripts/ensure_database.py" "$DATABASE_URL" || die "cannot reach the database at DATABASE_URL"
  if [ -z "${REDIS_URL:-}" ]; then
    if redis_answers "redis://127.0.0.1:6379/0"; then
      export REDIS_URL="redis://127.0.0.1:6379/0"
    else
      start_local_redis
      export REDIS_URL="redis://127.0.0.1:$LOCAL_REDIS_PORT/0"
    fi
  fi
  redis_answers "$REDIS_URL" || die "cannot reach Redis at REDIS_URL=$REDIS_URL"
}
