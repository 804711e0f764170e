# The bench's other two systems, beside the stack xtask starts: the ceiling (a minimal
# JavaScript worker, bench/ceiling/, under `wrangler dev` on a copy of the stack's local D1) and
# the DRF reference service (../shared/reference/drf-service, gunicorn through its run.sh) on a
# throwaway Postgres cluster of its own. Sourced by scripts/bench.sh (which sources lib.sh);
# every process started here runs in a process group of its own, and *_stop ends that group.

DRF_DIR="${DRF_DIR:-$root/../shared/reference/drf-service}"

# free_port: a port nothing listens on right now.
free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# wait_http URL SECONDS [PID]: until URL answers 200; fails after SECONDS, or as soon as PID is
# gone.
wait_http() {
  local url="$1" limit="$2" pid="${3:-}" started=$SECONDS
  until curl -fsS -m 2 -o /dev/null "$url" 2>/dev/null; do
    if [[ -n "$pid" ]] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    ((SECONDS - started < limit)) || return 1
    sleep 0.2
  done
}

# stop_group PID: SIGTERM to the process group PID leads (started with setsid), SIGKILL after 10 s.
stop_group() {
  local pid="$1"
  kill -TERM -- "-$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do
    kill -0 -- "-$pid" 2>/dev/null || return 0
    sleep 0.2
  done
  kill -KILL -- "-$pid" 2>/dev/null || true
}

# runtime_url PORT: the runtime's own socket behind the `wrangler dev` proxy listening on PORT
# (scripts/bench_runtime.py says how it is found).
runtime_url() { python3 "$root/scripts/bench_runtime.py" url "$1"; }

# --- the ceiling -------------------------------------------------------------------------------

CEILING_PGID="" CEILING_URL="" CEILING_RUNTIME_URL="" CEILING_COLD_MS=""

# ceiling_start DIR D1_STATE: the ceiling worker under `wrangler dev`, run as xtask runs the
# edge (same flags), on a copy of D1_STATE (the stack's `--persist-to` folder, `$E2E_D1_DIR`)
# taken now, in DIR (emptied first). Sets CEILING_URL (wrangler's proxy), CEILING_RUNTIME_URL
# (its runtime's socket), CEILING_PGID and CEILING_COLD_MS (launch to the first 200).
ceiling_start() {
  local dir="$1" source="$2" port inspector started
  rm -rf "$dir" && mkdir -p "$dir"
  python3 "$root/scripts/bench_d1_copy.py" "$source" "$dir/state" >&2
  # The config next to the state, `main` absolute: wrangler's scratch (.wrangler/) lands here.
  sed "s|^main = \"worker.js\"|main = \"$root/bench/ceiling/worker.js\"|" \
    "$root/bench/ceiling/wrangler.toml" >"$dir/wrangler.toml"
  port=$(free_port) inspector=$(free_port)
  started=$(date +%s%N)
  (
    cd "$root" || exit
    WRANGLER_SEND_METRICS=false CLOUDFLARE_CF_FETCH_ENABLED=false exec setsid \
      npx --no-install wrangler --config "$dir/wrangler.toml" \
      dev --local --ip 127.0.0.1 --port "$port" --inspector-port "$inspector" \
      --persist-to "$dir/state" --show-interactive-dev-session=false >"$dir/wrangler.log" 2>&1
  ) &
  CEILING_PGID=$!
  CEILING_URL="http://127.0.0.1:$port"
  if ! wait_http "$CEILING_URL/health/" 90 "$CEILING_PGID"; then
    tail -n 20 "$dir/wrangler.log" >&2
    die "the ceiling worker did not start (log: $dir/wrangler.log)"
  fi
  CEILING_COLD_MS=$((($(date +%s%N) - started) / 1000000))
  CEILING_RUNTIME_URL=$(runtime_url "$port")
  note "ceiling: $CEILING_URL (wrangler dev), runtime socket $CEILING_RUNTIME_URL, up in $CEILING_COLD_MS ms"
}

ceiling_stop() {
  [[ -n "$CEILING_PGID" ]] || return 0
  stop_group "$CEILING_PGID"
  CEILING_PGID=""
}

# --- the DRF service and its Postgres ----------------------------------------------------------

DRF_PG_DIR="" DRF_PG_PORT="" DRF_DATABASE_URL="" DRF_PGID="" DRF_URL=""

# pg_server PROGRAM ARGS...: a server binary, as `postgres` when we are root (initdb refuses
# root), as xtask/src/postgres.rs runs them.
pg_server() {
  local program="$pg_bin/$1"
  shift
  if [[ $(id -u) -eq 0 ]]; then
    runuser -u postgres -- "$program" "$@"
  else
    "$program" "$@"
  fi
}

# drf_postgres_start DIR: a throwaway cluster in DIR on a free port, configured like the
# stack's (fsync off, 200 connections, trust on 127.0.0.1), database `drf`. Sets
# DRF_DATABASE_URL.
drf_postgres_start() {
  DRF_PG_DIR="$1"
  DRF_PG_PORT=$(free_port)
  mkdir -p "$DRF_PG_DIR"
  [[ $(id -u) -eq 0 ]] && chown postgres: "$DRF_PG_DIR"
  pg_server initdb -D "$DRF_PG_DIR/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 \
    >"$DRF_PG_DIR/initdb.log" 2>&1 || { cat "$DRF_PG_DIR/initdb.log" >&2; die "initdb failed"; }
  pg_server pg_ctl -D "$DRF_PG_DIR/data" -l "$DRF_PG_DIR/postgres.log" -w -t 30 \
    -o "-p $DRF_PG_PORT -k $DRF_PG_DIR -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200" \
    start >"$DRF_PG_DIR/pg_ctl.log" 2>&1 || { tail -n 20 "$DRF_PG_DIR/postgres.log" >&2; die "the DRF Postgres did not start"; }
  "$pg_bin/psql" -h 127.0.0.1 -p "$DRF_PG_PORT" -U postgres -d postgres -qtAX -c "CREATE DATABASE drf"
  DRF_DATABASE_URL="postgres://postgres@127.0.0.1:$DRF_PG_PORT/drf"
}

drf_postgres_stop() {
  [[ -n "$DRF_PG_DIR" && -f "$DRF_PG_DIR/data/postmaster.pid" ]] || return 0
  pg_server pg_ctl -D "$DRF_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
  DRF_PG_DIR=""
}

drf_postmaster_pid() { head -n 1 "$DRF_PG_DIR/data/postmaster.pid"; }

psql_drf() { "$pg_bin/psql" "$DRF_DATABASE_URL" -qtAX -c "$1"; }

# drf_launch DIR: the DRF service through its own run.sh (its venv, `migrate`, gunicorn with its
# default 2 workers) on its Postgres, in the background; drf_wait waits for it. The throttles
# stay on (a counter in the database cache per request, as deployed) with rates nobody reaches:
# per second rather than per day as its README has it, since DRF keeps every request's
# timestamp of the window in the cache entry, and a day's worth would grow with each run.
drf_launch() {
  local dir="$1" port
  mkdir -p "$dir/media"
  port=$(free_port)
  DRF_URL="http://127.0.0.1:$port"
  (
    DATABASE_URL="$DRF_DATABASE_URL" PORT="$port" MEDIA_ROOT="$dir/media" LOG_LEVEL=WARNING \
      THROTTLE_RATE_ANON=1000000/s THROTTLE_RATE_USER=1000000/s SECRET_KEY="bench-$RANDOM-$RANDOM-$RANDOM-$RANDOM" \
      exec setsid "$DRF_DIR/run.sh" >"$dir/drf.log" 2>&1
  ) &
  DRF_PGID=$!
}

drf_wait() {
  if ! wait_http "$DRF_URL/health/" 600 "$DRF_PGID"; then
    tail -n 30 "${DRF_PG_DIR%/*}/drf.log" >&2
    die "the DRF service did not start (log above)"
  fi
  note "DRF: $DRF_URL (gunicorn, pid $DRF_PGID), Postgres on port $DRF_PG_PORT"
}

drf_stop() {
  [[ -n "$DRF_PGID" ]] || return 0
  stop_group "$DRF_PGID"
  DRF_PGID=""
}

# drf_api METHOD PATH [BODY] [TOKEN]: a JSON call to the DRF service; prints the body.
drf_api() {
  local method="$1" path="$2" body="${3:-}" token="${4:-}"
  local args=(-fsS -X "$method" "$DRF_URL$path" -H 'content-type: application/json')
  [[ -n "$token" ]] && args+=(-H "authorization: Bearer $token")
  [[ -n "$body" ]] && args+=(-d "$body")
  curl "${args[@]}"
}

# drf_new_user NAME: registers (Django's password hasher, through its register endpoint); prints
# the user's id.
drf_new_user() {
  drf_api POST /api/v1/auth/register/ \
    "{\"username\":\"$1\",\"password\":\"bench-password-1\",\"email\":\"$1@example.com\"}" | json_field '["id"]'
}

# drf_token NAME: a fresh access token (DRF's live 15 minutes).
drf_token() {
  drf_api POST /api/token/ "{\"username\":\"$1\",\"password\":\"bench-password-1\"}" | json_field '["access"]'
}

# drf_seed_tasks PROJECT_IDS COUNT: the rows seed_tasks writes on our side (task_rows, in
# bench.sh), into DRF's table (projects_task).
drf_seed_tasks() {
  psql_drf "INSERT INTO projects_task (project_id, title, detail, done, due_date, created_at) $(task_rows "$1" "$2");
    ANALYZE projects_task"
}
