# ./dev bench: seeds 10k and 100k tasks into a fresh local stack, drives it with wrk, prints a
# table of medians and writes it to docs/benchmarks.md. Sourced by ./dev (uses scripts/lib.sh).
#
# Two halves: cmd_bench builds, then has `cargo xtask stack` start a fresh stack (release origin)
# and run `./dev bench-measure` on it, which is cmd_bench_measure below: it finds the stack
# through the E2E_* variables xtask sets, seeds and measures. xtask stops the stack afterwards.

BENCH_RUNS="${BENCH_RUNS:-3}"
BENCH_SECONDS="${BENCH_SECONDS:-10}"
BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-16}"

ensure_wrk() {
  if ! command -v wrk >/dev/null; then
    say "Installing wrk (apt)"
    if [[ $(id -u) -eq 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    else
      sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
    fi
  fi
}

# api METHOD PATH [BODY] [TOKEN]: a JSON call to the edge; prints the body.
api() {
  local method="$1" path="$2" body="${3:-}" token="${4:-}"
  local args=(-fsS -X "$method" "$EDGE$path" -H 'content-type: application/json')
  [[ -n "$token" ]] && args+=(-H "authorization: Bearer $token")
  [[ -n "$body" ]] && args+=(-d "$body")
  curl "${args[@]}"
}

json_field() { python3 -c "import json,sys; print(json.load(sys.stdin)$1)"; }

psql_app() { "$pg_bin/psql" "$E2E_DATABASE_URL" -qtAX -c "$1"; }

# new_user NAME: registers and logs in; prints "id token".
new_user() {
  local name="$1" password="bench-password-1"
  local id token
  id=$(api POST /api/v1/auth/register/ "{\"username\":\"$name\",\"password\":\"$password\",\"email\":\"$name@example.com\"}" | json_field '["id"]')
  token=$(api POST /api/token/ "{\"username\":\"$name\",\"password\":\"$password\"}" | json_field '["access"]')
  echo "$id $token"
}

# seed_tasks PROJECT_IDS COUNT: inserts COUNT tasks spread over the projects, straight into
# Postgres (the API would take minutes); resync-edge then replicates them to D1.
seed_tasks() {
  local projects="$1" count="$2"
  psql_app "
    INSERT INTO tasks (project_id, title, detail, done, due_date, created_at)
    SELECT (ARRAY[$projects])[1 + g % array_length(ARRAY[$projects], 1)],
           'Task ' || g || CASE WHEN g % 50 = 0 THEN ' release notes' ELSE '' END,
           'detail ' || md5(g::text),
           g % 3 = 0,
           CASE WHEN g % 7 = 0 THEN NULL ELSE date '2025-01-01' + (g % 365) END,
           now() - make_interval(secs => g)
    FROM generate_series(1, $count) g"
}

# The secrets as assignments, not `env` arguments: they stay off the command line (`ps`).
resync() {
  ENVIRONMENT=development DATABASE_URL="$E2E_DATABASE_URL" EDGE_URL="$EDGE" \
    ORIGIN_SHARED_SECRET="$E2E_ORIGIN_SECRET" JWT_SIGNING_KEY="$E2E_JWT_SIGNING_KEY" RUST_LOG=warn \
    "$E2E_ORIGIN_BIN" resync-edge | sed 's/^/    /' >&2
}

# bench_stack_args: `cargo xtask stack` arguments for a bench stack, one a line: the release
# origin, and EXTRA_WRANGLER_VARS, more variables for the edge as "NAME:VALUE ..." (`--var`
# words skipped).
bench_stack_args() {
  printf '%s\n' --origin-bin "$root/target/release/origin-worker"
  local var
  for var in ${EXTRA_WRANGLER_VARS:-}; do
    [[ $var == --var ]] || printf '%s\n' --wrangler-var "$var"
  done
}

# wrk_once EDGE_URL URL_PATH TOKEN [LUA]: one wrk run (anonymous when TOKEN is empty); prints
# its output, with the CPU each process of the stack spent ("cpu ..." lines,
# scripts/wrk_profile.py).
wrk_once() {
  local edge="$1" path="$2" token="$3" lua="${4:-}"
  local args=(-t2 -c"$BENCH_CONNECTIONS" -d"${BENCH_SECONDS}s" --latency)
  [[ -n "$token" ]] && args+=(-H "authorization: Bearer $token")
  [[ -n "$lua" ]] && args+=(-s "$lua")
  python3 "$root/scripts/wrk_profile.py" "${edge##*:}" wrk "${args[@]}" "$edge$path" 2>&1
}

# run_wrk NAME URL_PATH TOKEN [LUA]: BENCH_RUNS runs; prints "rps p50_ms p99_ms errors" medians.
run_wrk() {
  local name="$1" path="$2" token="$3" lua="${4:-}"
  local results=() run out
  for run in $(seq "$BENCH_RUNS"); do
    out=$(wrk_once "$EDGE" "$path" "$token" "$lua")
    results+=("$(python3 "$root/scripts/wrk_parse.py" <<<"$out")")
    note "$name run $run: ${results[-1]}"
    # CPU per request by process, kept for the profile table.
    grep '^cpu ' <<<"$out" | sed "s/^/$name /" >>"$state/cpu.txt" || true
  done
  printf '%s\n' "${results[@]}" | python3 "$root/scripts/wrk_parse.py" --median
}

# seed_reads: on the current stack, one user with 10,000 tasks over 10 projects, replicated to
# D1; prints "token task_id" (the read scenarios' user and the task the detail reads).
seed_reads() {
  local user_id token projects=() p
  read -r user_id token < <(new_user "bulk10000")
  for p in $(seq 10); do
    projects+=("$(api POST /api/v1/projects/ "{\"name\":\"Bulk $p\"}" "$token" | json_field '["id"]')")
  done
  seed_tasks "$(IFS=,; echo "${projects[*]}")" 10000
  resync
  echo "$token $(psql_app "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.owner_id = $user_id ORDER BY t.id DESC LIMIT 1")"
}

# ./dev bench --limiter, first half, on the stack with the limiter off: seeds it, then starts
# the second stack (limiter on) with this one's address, user and task in LIMITER_OFF_*.
cmd_bench_limiter_off() {
  : "${E2E_EDGE_URL:?run ./dev bench --limiter, which starts the stacks}"
  ensure_postgres
  EDGE="$E2E_EDGE_URL"
  say "Seeding the stack with the rate limiter off (10,000 tasks)"
  local token task
  read -r token task < <(seed_reads)
  say "Starting the second stack, the rate limiter on"
  # The same arguments as the first stack (cmd_bench), without its THROTTLE_ENABLED=false.
  local stack_args
  mapfile -t stack_args < <(bench_stack_args)
  LIMITER_OFF_EDGE="$EDGE" LIMITER_OFF_TOKEN="$token" LIMITER_OFF_TASK="$task" \
    cargo xtask stack "${stack_args[@]}" -- "$root/dev" bench-limiter-on
}

# ./dev bench --limiter, second half, on the stack with the limiter on: seeds it the same way,
# then runs each read scenario BENCH_RUNS times on each stack, alternating off, on, off, on:
# both stacks are up the whole time, so the machine's drift lands on both alike.
cmd_bench_limiter_on() {
  : "${LIMITER_OFF_EDGE:?run ./dev bench --limiter}"
  ensure_postgres
  EDGE="$E2E_EDGE_URL"
  say "Seeding the stack with the rate limiter on (10,000 tasks)"
  local token task
  read -r token task < <(seed_reads)
  # The last scenario is the limiter's worst case rather than a read of the issue's: 1,000
  # anonymous clients (CF-Connecting-IP) taking turns, each back only every few seconds, by
  # when its isolate's lease has run out, so nearly every request waits for a renewal.
  local addresses="$E2E_DATA_DIR/addresses.lua"
  cat >"$addresses" <<'LUA'
local n = 0
request = function()
  n = (n + 1) % 1000
  local address = "10.0." .. math.floor(n / 250) .. "." .. (n % 250 + 1)
  return wrk.format(nil, nil, { ["CF-Connecting-IP"] = address })
end
LUA
  local scenarios=(
    "task list|/api/v1/tasks/?done=false&ordering=-due_date|"
    "task detail|/api/v1/tasks/{task}/|"
    "search|/api/v1/tasks/?search=release+notes|"
    "products, 1,000 anonymous clients|/api/v1/products/|$addresses"
  )
  say "wrk -t2 -c$BENCH_CONNECTIONS, ${BENCH_SECONDS}s; $BENCH_RUNS pairs of runs per scenario, off then on"
  local entry name path lua run out off on results=() cpu="$E2E_DATA_DIR/limiter-cpu.txt" label
  local off_token on_token
  for entry in "${scenarios[@]}"; do
    IFS='|' read -r name path lua <<<"$entry"
    label="${name%%,*}" label="${label// /-}"
    off_token="$LIMITER_OFF_TOKEN" on_token="$token"
    [[ -n "$lua" ]] && off_token="" on_token=""
    for run in $(seq "$BENCH_RUNS"); do
      out=$(wrk_once "$LIMITER_OFF_EDGE" "${path/\{task\}/$LIMITER_OFF_TASK}" "$off_token" "$lua")
      off=$(python3 "$root/scripts/wrk_parse.py" <<<"$out")
      grep '^cpu ' <<<"$out" | sed "s/^/$label,off /" >>"$cpu" || true
      out=$(wrk_once "$EDGE" "${path/\{task\}/$task}" "$on_token" "$lua")
      on=$(python3 "$root/scripts/wrk_parse.py" <<<"$out")
      grep '^cpu ' <<<"$out" | sed "s/^/$label,on /" >>"$cpu" || true
      note "$name, pair $run: off $off | on $on"
      results+=("$name|$off|$on")
    done
  done
  printf '%s\n' "${results[@]}" | python3 "$root/scripts/wrk_parse.py" --limiter-pairs
  # CPU per request by process, each side (the idle stack's processes count too, at ~0).
  python3 "$root/scripts/wrk_parse.py" --profile <"$cpu"
}

# ./dev bench --attachments, on the stack it starts (UPLOAD_MAX_BYTES at its 100 MiB most): a
# 20 MiB file, then a 100 MiB one, uploaded and downloaded through wrangler dev BENCH_RUNS
# times each, with the runtime's memory watched meanwhile and the isolate's wasm memory (a
# high-water mark) read after each size: streamed, the second size leaves it where the first
# did.
cmd_bench_attachments() {
  : "${E2E_EDGE_URL:?run ./dev bench --attachments, which starts the stack}"
  ensure_postgres
  EDGE="$E2E_EDGE_URL"
  local token project mib
  read -r _ token < <(new_user "files$RANDOM")
  project=$(api POST /api/v1/projects/ '{"name":"Files"}' "$token" | json_field '["id"]')
  for mib in 20 100; do
    say "A $mib MiB file up and down through wrangler dev ($BENCH_RUNS runs)"
    python3 "$root/scripts/transfer_bench.py" "$EDGE" "$token" "$project" "$mib" "$BENCH_RUNS"
    note "the isolate's wasm memory (its high-water mark) after the $mib MiB runs: $(
      cargo xtask isolate | json_field '["linear_memory_bytes"]') bytes"
  done
}

cmd_bench() {
  ensure_tools
  ensure_wrk
  mkdir -p .data docs
  say "Building the origin (release) and the edge"
  cargo build --quiet --release -p origin-worker
  build_all
  local stack_args
  mapfile -t stack_args < <(bench_stack_args)
  # The rate limiter's cost: the read scenarios first on a stack with it off, then everything on
  # one with it on (limits nobody reaches, so every request is counted and none refused).
  # `./dev bench --limiter` measures only the reads, on two stacks up at once with runs
  # alternating between them (cmd_bench_limiter_off/on): the fairer comparison of the two.
  if [[ ${1:-} == --attachments ]]; then
    say "Attachments: a 20 MiB file up and down"
    RUST_LOG=warn cargo xtask stack "${stack_args[@]}" --wrangler-var UPLOAD_MAX_BYTES:104857600 \
      -- "$root/dev" bench-attachments
    return
  fi
  if [[ ${1:-} == --limiter ]]; then
    say "The read scenarios on two stacks up at once, the rate limiter off on one and on on the other"
    ACCESS_TOKEN_LIFETIME_SECS=7200 RUST_LOG=warn \
      cargo xtask stack "${stack_args[@]}" --wrangler-var THROTTLE_ENABLED:false \
      -- "$root/dev" bench-limiter-off
    return
  fi
  local off="$root/.data/bench-limiter-off.txt"
  rm -f "$off"
  say "The read scenarios with the rate limiter off (THROTTLE_ENABLED=false)"
  ACCESS_TOKEN_LIFETIME_SECS=7200 RUST_LOG=warn BENCH_READS_OUT="$off" \
    cargo xtask stack "${stack_args[@]}" --wrangler-var THROTTLE_ENABLED:false \
    -- "$root/dev" bench-measure
  say "Everything with the rate limiter on"
  # The origin inherits these: long-lived tokens for the runs, and quiet logs.
  ACCESS_TOKEN_LIFETIME_SECS=7200 RUST_LOG=warn \
    cargo xtask stack "${stack_args[@]}" -- "$root/dev" bench-measure
}

# read_scenarios SIZE TOKEN TASK_ID: the three reads at SIZE tasks; prints table rows.
read_scenarios() {
  local size="$1" token="$2" task_id="$3"
  echo "$size|task list (20/page, done=false, ordering=-due_date)|$(run_wrk list-$((size / 1000))k "/api/v1/tasks/?done=false&ordering=-due_date" "$token")"
  echo "$size|task detail|$(run_wrk detail-$((size / 1000))k "/api/v1/tasks/$task_id/" "$token")"
  echo "$size|search (search=release notes)|$(run_wrk search-$((size / 1000))k "/api/v1/tasks/?search=release+notes" "$token")"
}

# nonce_cost: what the replay guard adds to every forwarded request, measured alone: one
# INSERT of a fresh nonce per transaction, one connection, as the origin's extractor does it.
nonce_cost() {
  local script="$state/nonce.sql"
  echo "INSERT INTO request_nonces (nonce, expires_at) VALUES (md5(random()::text || clock_timestamp()::text), now() + interval '120 seconds');" >"$script"
  "$pg_bin/pgbench" -n -f "$script" -t 2000 -c 1 "$E2E_DATABASE_URL" 2>/dev/null \
    | awk '/latency average/ {print $4}'
}

# Runs on the stack `cargo xtask stack` started (E2E_* variables; E2E_DATA_DIR is its folder).
cmd_bench_measure() {
  : "${E2E_EDGE_URL:?run ./dev bench, which starts the stack}"
  ensure_postgres
  state="$E2E_DATA_DIR"
  EDGE="$E2E_EDGE_URL"

  local lua="$state/create.lua" rows=() size
  say "Seeding: one user with 2,000 tasks in one project (the seed's nested project list)"
  read -r _ nested_token < <(new_user "nested$RANDOM")
  local nested_project
  nested_project=$(api POST /api/v1/projects/ '{"name":"Nested"}' "$nested_token" | json_field '["id"]')
  seed_tasks "$nested_project" 2000
  say "Seeding: one user with 25 projects of 8 tasks (a page of 20 projects, 160 nested tasks)"
  read -r _ projects_token < <(new_user "projects$RANDOM")
  local light=() i
  for i in $(seq 25); do
    light+=("$(api POST /api/v1/projects/ "{\"name\":\"Light $i\"}" "$projects_token" | json_field '["id"]')")
  done
  seed_tasks "$(IFS=,; echo "${light[*]}")" 200

  local sizes=(10000 100000)
  [[ -n "${BENCH_READS_OUT:-}" ]] && sizes=(10000)
  for size in "${sizes[@]}"; do
    say "Seeding: $size tasks over 10 projects of one user"
    read -r user_id token < <(new_user "bulk$size")
    local projects=() p
    for p in $(seq 10); do
      projects+=("$(api POST /api/v1/projects/ "{\"name\":\"Bulk $p\"}" "$token" | json_field '["id"]')")
    done
    local started=$SECONDS
    seed_tasks "$(IFS=,; echo "${projects[*]}")" "$size"
    resync
    note "seeded and replicated $size tasks in $((SECONDS - started)) s"
    local task_id
    task_id=$(psql_app "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.owner_id = $user_id ORDER BY t.id DESC LIMIT 1")
    cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = '{"project": ${projects[0]}, "title": "created by wrk", "due_date": "2025-06-01"}'
wrk.headers["Content-Type"] = "application/json"
LUA
    say "wrk -t2 -c$BENCH_CONNECTIONS, ${BENCH_SECONDS}s x $BENCH_RUNS runs per scenario ($size tasks)"
    if [[ -n "${BENCH_READS_OUT:-}" ]]; then
      read_scenarios "$size" "$token" "$task_id" >"$BENCH_READS_OUT"
      note "written to ${BENCH_READS_OUT#"$root/"}"
      return 0
    fi
    mapfile -t -O "${#rows[@]}" rows < <(read_scenarios "$size" "$token" "$task_id")
    rows+=("$size|task create|$(run_wrk create-$((size / 1000))k "/api/v1/tasks/" "$token" "$lua")")
  done
  say "Baseline: /health/ (no D1, no origin, no token check): what wrangler dev itself costs"
  rows+=("0|baseline: GET /health/|$(run_wrk health /health/ "$projects_token")")
  say "Project lists"
  rows+=("200|project list (20 per page, 8 nested tasks each)|$(run_wrk projects /api/v1/projects/ "$projects_token")")
  rows+=("2000|project list, 1 project with 2,000 nested tasks|$(run_wrk nested /api/v1/projects/ "$nested_token")")

  python3 "$root/scripts/wrk_parse.py" --table "$BENCH_RUNS" "$BENCH_SECONDS" "$BENCH_CONNECTIONS" \
    "$(git -C "$root" rev-parse --short HEAD)" "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)" \
    "$(stat -c %s "$root/edge/build/index_bg.wasm")" "$(gzip -9 -c "$root/edge/build/index_bg.wasm" | wc -c)" \
    <<<"$(printf '%s\n' "${rows[@]}")" >"$root/docs/benchmarks.md"
  python3 "$root/scripts/wrk_parse.py" --profile <"$state/cpu.txt" >>"$root/docs/benchmarks.md"
  if [[ -f "$root/.data/bench-limiter-off.txt" ]]; then
    printf '%s\n' "${rows[@]}" | python3 "$root/scripts/wrk_parse.py" --limiter \
      "$root/.data/bench-limiter-off.txt" >>"$root/docs/benchmarks.md"
  fi
  say "The replay guard's cost: one nonce INSERT per forwarded request (pgbench, 2,000 inserts)"
  local nonce_ms
  nonce_ms=$(nonce_cost)
  cat >>"$root/docs/benchmarks.md" <<NONCE

## The replay guard

Every signed request the edge forwards carries a nonce the origin records (one INSERT into an
unlogged table, its own round trip before the handler's transaction). Alone, over one
connection, 2,000 of them: **${nonce_ms:-?} ms** average each, against the task create's p50
above.
NONCE
  cat "$root/docs/benchmarks.md"
  note "written to docs/benchmarks.md"
}
