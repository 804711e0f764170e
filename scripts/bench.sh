# ./dev bench: our stack, a ceiling and the DRF reference, side by side on one machine in one
# run, with the same wrk settings; prints the comparison and writes docs/benchmarks.md. Sourced
# by ./dev (uses scripts/lib.sh and scripts/bench_services.sh).
#
# Two halves: cmd_bench builds, then has `cargo xtask stack` start a fresh stack (release origin)
# and run `./dev bench-measure` on it, which is cmd_bench_measure below: it finds the stack
# through the E2E_* variables xtask sets, starts the other two systems, seeds all of them and
# measures. xtask stops the stack afterwards; cmd_bench_measure stops what it started.
#
# The five targets of every read scenario:
#   wrangler          our edge through `wrangler dev` (its proxy), what a developer sees
#   runtime           our edge at the runtime's own socket, without the proxy (the closest we
#                     get locally to production's runtime; scripts/bench_runtime.py finds it)
#   ceiling-wrangler  the ceiling (bench/ceiling/worker.js) through its `wrangler dev` proxy
#   ceiling           the ceiling at its runtime's socket: the same D1 work as ours, nothing else
#   drf               the DRF reference (gunicorn) on a Postgres cluster of its own
# Task create runs on wrangler, runtime and drf (the ceiling reads only).
#
# Settings (environment): BENCH_RUNS, BENCH_SECONDS, BENCH_WARMUP (seconds, per target and
# scenario, not counted), BENCH_CONNECTIONS, BENCH_SIZES ("10000 100000 1000000").
# `--quick` (BENCH_QUICK=1 for bench-measure): 10k only, shorter runs, each target warmed up
# once rather than before every scenario, the ceiling through its proxy left out; printed, never
# written.
#
# The figures of the last run stay in .data/bench-last/ (runs.txt: one line per wrk run;
# cpu.txt; meta.txt; checks.txt); `python3 scripts/wrk_parse.py --report .data/bench-last`
# prints the report again from them.

source "$root/scripts/bench_services.sh"

BENCH_CONNECTIONS="${BENCH_CONNECTIONS:-16}"
if [[ -n "${BENCH_QUICK:-}" ]]; then
  BENCH_RUNS="${BENCH_RUNS:-2}" BENCH_SECONDS="${BENCH_SECONDS:-2}" BENCH_WARMUP="${BENCH_WARMUP:-1}"
  BENCH_SIZES="${BENCH_SIZES:-10000}"
else
  BENCH_RUNS="${BENCH_RUNS:-3}" BENCH_SECONDS="${BENCH_SECONDS:-10}" BENCH_WARMUP="${BENCH_WARMUP:-2}"
  BENCH_SIZES="${BENCH_SIZES:-10000 100000 1000000}"
fi

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

# task_rows PROJECT_IDS COUNT: the SELECT of the bench's COUNT tasks, spread over the
# projects, as (project_id, title, detail, done, due_date, created_at). Ours and DRF's tables
# are both seeded from it, so that both sides serve the same rows.
task_rows() {
  local projects="$1" count="$2"
  echo "
    SELECT (ARRAY[$projects])[1 + g % array_length(ARRAY[$projects], 1)],
           'Task ' || g || CASE WHEN g % 50 = 0 THEN ' release notes' ELSE '' END,
           'detail ' || md5(g::text),
           g % 3 = 0,
           CASE WHEN g % 7 = 0 THEN NULL ELSE date '2025-01-01' + (g % 365) END,
           now() - make_interval(secs => g)
    FROM generate_series(1, $count) g"
}

# seed_tasks PROJECT_IDS COUNT: inserts the tasks straight into Postgres (the API would take
# minutes); resync-edge then replicates them to D1.
seed_tasks() {
  psql_app "INSERT INTO tasks (project_id, title, detail, done, due_date, created_at) $(task_rows "$1" "$2")"
}

# resync [WRAPPER...]: the origin's `resync-edge` (run through WRAPPER, when given), which
# writes a change record for every row D1 lacks and pushes them all. The secrets as
# assignments, not `env` arguments: they stay off the command line (`ps`). Prints the lines
# that say what it wrote and whether D1 is in sync.
resync() {
  ENVIRONMENT=development DATABASE_URL="$E2E_DATABASE_URL" EDGE_URL="$EDGE" \
    ORIGIN_SHARED_SECRET="$E2E_ORIGIN_SECRET" JWT_SIGNING_KEY="$E2E_JWT_SIGNING_KEY" RUST_LOG=warn \
    "$@" "$E2E_ORIGIN_BIN" resync-edge | { grep -E 'to write|pushed|sync|rror' || true; } | sed 's/^/    /' >&2
}

# bench_stack_args: `cargo xtask stack` arguments for a bench stack, one a line: the release
# origin, and EXTRA_WRANGLER_VARS, more variables for the edge as "NAME:VALUE ..." (`--var`
# words skipped).
bench_stack_args() {
  printf '%s\n' --origin-bin "$root/target/release/origin-worker"
  # The access line as deployed (for problems only; development's default writes one for every
  # request).
  printf '%s\n' --wrangler-var ACCESS_LOG:problems
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
  local mode="${1:-}"
  case "$mode" in
    "" | --quick | --limiter | --attachments) ;;
    *) die "./dev bench takes --quick, --limiter or --attachments, not $mode" ;;
  esac
  ensure_tools
  ensure_wrk
  mkdir -p .data docs
  say "Building the origin (release) and the edge"
  cargo build --quiet --release -p origin-worker
  build_all
  local stack_args
  mapfile -t stack_args < <(bench_stack_args)
  if [[ $mode == --attachments ]]; then
    say "Attachments: a 20 MiB file up and down"
    RUST_LOG=warn cargo xtask stack "${stack_args[@]}" --wrangler-var UPLOAD_MAX_BYTES:104857600 \
      -- "$root/dev" bench-attachments
    return
  fi
  if [[ $mode == --limiter ]]; then
    say "The read scenarios on two stacks up at once, the rate limiter off on one and on on the other"
    ACCESS_TOKEN_LIFETIME_SECS=7200 RUST_LOG=warn \
      cargo xtask stack "${stack_args[@]}" --wrangler-var THROTTLE_ENABLED:false \
      -- "$root/dev" bench-limiter-off
    return
  fi
  local started=$SECONDS quick=""
  [[ $mode == --quick ]] && quick=1
  # xtask's own lines (the edge's cold start among them) are kept for bench-measure to read.
  local log="$root/.data/bench-xtask.log"
  : >"$log"
  # The rate limiter on, as deployed, with limits nobody reaches (xtask's defaults); tokens that
  # outlive the run; quiet logs (the origin inherits these).
  ACCESS_TOKEN_LIFETIME_SECS=43200 RUST_LOG=warn BENCH_QUICK="$quick" BENCH_XTASK_LOG="$log" \
    cargo xtask stack "${stack_args[@]}" -- "$root/dev" bench-measure 2> >(tee -a "$log" >&2)
  say "./dev bench${quick:+ --quick} took $((SECONDS - started)) s after the build"
}

# --- the measuring half, on the stack ---------------------------------------------------------

# Per target: its base URL, and the `--tree NAME=PID` arguments naming its processes for
# scripts/wrk_profile.py.
declare -A BASE=() TREES=() WARMED=()
# Per user of the bench (bulk10000, ..., nested, projects): on our side its id, token, first
# project, the task the detail reads; the same on DRF's side (its username, a token and when it
# was taken: DRF's live 15 minutes).
declare -A OURS_ID=() OURS_TOKEN=() OURS_PROJECT=() OURS_TASK=()
declare -A DRF_NAME=() DRF_PROJECT=() DRF_TASK=() DRF_TOKEN=() DRF_TOKEN_AT=()

# ours_user KEY PROJECTS: a user on our side with PROJECTS projects (through the API); leaves
# the project ids, comma separated, in BENCH_PROJECTS.
ours_user() {
  local key="$1" count="$2" id token projects=() p
  read -r id token < <(new_user "$key$RANDOM")
  OURS_ID[$key]=$id OURS_TOKEN[$key]=$token
  for p in $(seq "$count"); do
    projects+=("$(api POST /api/v1/projects/ "{\"name\":\"Bulk $p\"}" "$token" | json_field '["id"]')")
  done
  OURS_PROJECT[$key]=${projects[0]}
  BENCH_PROJECTS=$(IFS=,; echo "${projects[*]}")
}

# drf_user KEY PROJECTS: the same on DRF's side.
drf_user() {
  local key="$1" count="$2" name="$1$RANDOM" token projects=() p
  drf_new_user "$name" >/dev/null
  DRF_NAME[$key]=$name
  token=$(drf_token "$name")
  for p in $(seq "$count"); do
    projects+=("$(drf_api POST /api/v1/projects/ "{\"name\":\"Bulk $p\"}" "$token" | json_field '["id"]')")
  done
  DRF_PROJECT[$key]=${projects[0]}
  BENCH_PROJECTS=$(IFS=,; echo "${projects[*]}")
}

# last_tasks KEY: the task each side's detail reads, the user's newest (the same generated row).
last_tasks() {
  local key="$1"
  OURS_TASK[$key]=$(psql_app "SELECT t.id FROM tasks t JOIN projects p ON p.id = t.project_id WHERE p.owner_id = ${OURS_ID[$key]} ORDER BY t.id DESC LIMIT 1")
  DRF_TASK[$key]=$(psql_drf "SELECT t.id FROM projects_task t JOIN projects_project p ON p.id = t.project_id JOIN auth_user u ON u.id = p.owner_id WHERE u.username = '${DRF_NAME[$key]}' ORDER BY t.id DESC LIMIT 1")
}

# header_for TARGET KEY: the one header a target needs for KEY's requests ("" when anonymous).
header_for() {
  local target="$1" key="$2"
  [[ -z "$key" ]] && return 0
  case "$target" in
    wrangler | runtime) echo "authorization: Bearer ${OURS_TOKEN[$key]}" ;;
    ceiling*) echo "x-owner: ${OURS_ID[$key]}" ;;
    drf) echo "authorization: Bearer ${DRF_TOKEN[$key]}" ;;
  esac
}

# drf_fresh KEY: a new DRF token for KEY when the one held is over 10 minutes old (they live
# 15); taken between runs, never during one.
drf_fresh() {
  local key="$1"
  [[ -z "$key" ]] && return 0
  if [[ -z "${DRF_TOKEN_AT[$key]:-}" ]] || ((SECONDS - DRF_TOKEN_AT[$key] > 600)); then
    DRF_TOKEN[$key]=$(drf_token "${DRF_NAME[$key]}")
    DRF_TOKEN_AT[$key]=$SECONDS
  fi
}

# path_for TARGET PATH KEY: PATH with {task} as that side's id.
path_for() {
  local target="$1" path="$2" key="$3"
  [[ $path == *"{task}"* ]] || { echo "$path"; return; }
  if [[ $target == drf ]]; then echo "${path/\{task\}/${DRF_TASK[$key]}}"; else echo "${path/\{task\}/${OURS_TASK[$key]}}"; fi
}

# create_lua TARGET KEY: a wrk script creating tasks in KEY's first project on that side.
create_lua() {
  local target="$1" key="$2" project lua
  if [[ $target == drf ]]; then project=${DRF_PROJECT[$key]}; else project=${OURS_PROJECT[$key]}; fi
  lua="$state/create-$target-$key.lua"
  cat >"$lua" <<LUA
wrk.method = "POST"
wrk.body = '{"project": $project, "title": "created by wrk", "due_date": "2025-06-01"}'
wrk.headers["Content-Type"] = "application/json"
LUA
  echo "$lua"
}

# wrk_target TARGET PATH HEADER LUA SECONDS: one wrk run on TARGET, with the CPU its processes
# spent; prints wrk's output and the "cpu NAME MS" lines.
wrk_target() {
  local target="$1" path="$2" header="$3" lua="$4" seconds="$5" trees
  local args=(-t2 -c"$BENCH_CONNECTIONS" -d"${seconds}s" --timeout 30s --latency)
  [[ -n "$header" ]] && args+=(-H "$header")
  [[ -n "$lua" ]] && args+=(-s "$lua")
  read -ra trees <<<"${TREES[$target]}"
  python3 "$root/scripts/wrk_profile.py" "${trees[@]}" -- wrk "${args[@]}" "${BASE[$target]}$path" 2>&1
}

# scenario SIZE NAME KEY PATH TARGETS...: checks every target answers PATH alike (reads), warms
# each up, then BENCH_RUNS rounds, each running every target once in turn, so that the
# machine's drift lands on all of them alike. Appends "SIZE|NAME|TARGET|rps p50 p99 errors" to
# runs.txt and "SIZE|NAME|TARGET|component|ms" to cpu.txt. NAME create POSTs (a wrk script).
scenario() {
  local size="$1" name="$2" key="$3" path="$4" target run out figures lua="" check=()
  shift 4
  local targets=("$@") label=""
  find_stack quiet
  [[ $name == list || $name == detail || $name == search || $name == create ]] && label=" at $((size / 1000))k"
  drf_fresh "$key"
  if [[ $name != create ]]; then
    for target in "${targets[@]}"; do
      check+=("$target" "${BASE[$target]}$(path_for "$target" "$path" "$key")" "$(header_for "$target" "$key")")
    done
    # Ours at the runtime socket first: the reference the others are compared with.
    out=$(python3 "$root/scripts/bench_check.py" "$name" "${check[@]}") || die "$name: a target failed (above)"
    note "$out"
    [[ $out == *MISMATCH* ]] && echo "$size|$name|$out" >>"$state/checks.txt"
  else
    # One create per target first: each must answer 201.
    local code body
    for target in "${targets[@]}"; do
      body=$(sed -n "s/^wrk.body = '\(.*\)'$/\1/p" "$(create_lua "$target" "$key")")
      code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "${BASE[$target]}$path" \
        -H "$(header_for "$target" "$key")" -H 'content-type: application/json' -d "$body")
      [[ $code == 201 ]] || die "create: $target answered $code to POST $path $body"
    done
  fi
  for target in "${targets[@]}"; do
    # --quick warms each target up once, before its first scenario; the full run before each.
    [[ -n "${BENCH_QUICK:-}" && -n "${WARMED[$target]:-}" ]] && continue
    WARMED[$target]=1
    [[ $name == create ]] && lua=$(create_lua "$target" "$key")
    wrk_target "$target" "$(path_for "$target" "$path" "$key")" "$(header_for "$target" "$key")" "$lua" "$BENCH_WARMUP" >/dev/null
  done
  for run in $(seq "$BENCH_RUNS"); do
    local line=""
    drf_fresh "$key"
    for target in "${targets[@]}"; do
      [[ $name == create ]] && lua=$(create_lua "$target" "$key")
      out=$(wrk_target "$target" "$(path_for "$target" "$path" "$key")" "$(header_for "$target" "$key")" "$lua" "$BENCH_SECONDS")
      figures=$(python3 "$root/scripts/wrk_parse.py" <<<"$out")
      echo "$size|$name|$target|$figures" >>"$state/runs.txt"
      grep '^cpu ' <<<"$out" | awk -v p="$size|$name|$target" '{print p "|" $2 "|" $3}' >>"$state/cpu.txt" || true
      line+=" $target ${figures%% *}/s"
    done
    note "[$(elapsed)] $name${label}, round $run:$line"
  done
}

READ_TARGETS=(runtime wrangler ceiling ceiling-wrangler drf)
WRITE_TARGETS=(runtime wrangler drf)
CEILING_TARGETS=(ceiling ceiling-wrangler)
# --quick leaves out the ceiling through its proxy: the comparison that counts is at the
# runtime sockets, and five minutes do not hold both.
if [[ -n "${BENCH_QUICK:-}" ]]; then
  READ_TARGETS=(runtime wrangler ceiling drf) CEILING_TARGETS=(ceiling)
fi

# elapsed: minutes and seconds since bench-measure started.
elapsed() { printf '%d:%02d' $(((SECONDS - measure_started) / 60)) $(((SECONDS - measure_started) % 60)); }

# meta NAME VALUE: one figure for the report (meta.txt).
meta() { echo "$1=$2" >>"$state/meta.txt"; }

# ms_since NANOSECONDS: milliseconds since that `date +%s%N`.
ms_since() { echo $((($(date +%s%N) - $1) / 1000000)); }

# seed_size SIZE: one user with SIZE tasks over 10 projects on each side, timed: ours into
# Postgres, then `resync-edge` to D1 (with the CPU each process of the stack spent meanwhile:
# where a long one goes); DRF's through SQL.
seed_size() {
  local size="$1" key="bulk$1" t pg_ms resync_ms drf_ms trees cpu="$state/resync-$1.cpu"
  say "Seeding $size tasks over 10 projects of one user, on each side"
  ours_user "$key" 10
  t=$(date +%s%N)
  seed_tasks "$BENCH_PROJECTS" "$size"
  pg_ms=$(ms_since "$t")
  read -ra trees <<<"${TREES[wrangler]}"
  t=$(date +%s%N)
  resync python3 "$root/scripts/wrk_profile.py" --total "$cpu" "${trees[@]}" --
  resync_ms=$(ms_since "$t")
  drf_user "$key" 10
  t=$(date +%s%N)
  drf_seed_tasks "$BENCH_PROJECTS" "$size"
  drf_ms=$(ms_since "$t")
  last_tasks "$key"
  meta "seed_postgres_ms.$size" "$pg_ms"
  meta "resync_ms.$size" "$resync_ms"
  meta "resync_cpu.$size" "$(awk '$1 == "cpu" {printf "%s%s:%s", sep, $2, $3; sep=","}' "$cpu")"
  meta "seed_drf_ms.$size" "$drf_ms"
  note "ours: Postgres $pg_ms ms, resync-edge $resync_ms ms ($(tr '\n' ' ' <"$cpu")); DRF: $drf_ms ms"
}

# find_stack [quiet]: the stack's processes by role, and the runtime's socket
# (scripts/bench_runtime.py). Run again before every scenario: `wrangler dev` restarts its
# runtime (a new process on a new port) when the worker's files change, a rebuild of
# edge/build/ during the run for one; that is noted, and reported, since the figures before and
# after are then of two different builds.
STACK_RUNTIME_PID=""
find_stack() {
  local port="${EDGE##*:}" node proxy runtime origin postgres
  read -r node proxy runtime < <(python3 "$root/scripts/bench_runtime.py" pids "$port")
  if [[ -n "$STACK_RUNTIME_PID" && "$runtime" != "$STACK_RUNTIME_PID" ]]; then
    note "wrangler dev restarted the edge's runtime (pid $STACK_RUNTIME_PID, now $runtime): was edge/build/ rebuilt?"
    echo "0|restart|wrangler dev restarted the edge's runtime during the run (edge/build/ changed?): the figures before and after it may be of two builds" >>"$state/checks.txt"
  fi
  STACK_RUNTIME_PID=$runtime
  [[ ${1:-} == quiet && -n "${BASE[runtime]:-}" && "${TREES[wrangler]}" == *"runtime=$runtime "* ]] && return 0
  origin=$(python3 "$root/scripts/bench_runtime.py" listener "${E2E_ORIGIN_URL##*:}")
  postgres=$(python3 "$root/scripts/bench_runtime.py" listener "$(sed -E 's|.*:([0-9]+)/.*|\1|' <<<"$E2E_DATABASE_URL")")
  BASE[wrangler]="$EDGE"
  BASE[runtime]=$(runtime_url "$port")
  TREES[wrangler]="--tree runtime=$runtime --tree proxy=$proxy --tree node=$node --tree origin=$origin --tree postgres=$postgres"
  TREES[runtime]="${TREES[wrangler]}"
  note "ours: wrangler dev $EDGE (node $node, proxy workerd $proxy), runtime workerd $runtime at ${BASE[runtime]}"
}

find_ceiling() {
  local node proxy runtime
  read -r node proxy runtime < <(python3 "$root/scripts/bench_runtime.py" pids "${CEILING_URL##*:}")
  BASE[ceiling-wrangler]="$CEILING_URL"
  BASE[ceiling]="$CEILING_RUNTIME_URL"
  TREES[ceiling-wrangler]="--tree runtime=$runtime --tree proxy=$proxy --tree node=$node"
  TREES[ceiling]="${TREES[ceiling-wrangler]}"
}

# nonce_cost: what the replay guard adds to every forwarded request, measured alone: one
# INSERT of a fresh nonce per transaction, one connection, as the origin's extractor does it.
nonce_cost() {
  local script="$state/nonce.sql"
  echo "INSERT INTO request_nonces (nonce, expires_at) VALUES (md5(random()::text || clock_timestamp()::text), now() + interval '120 seconds');" >"$script"
  "$pg_bin/pgbench" -n -f "$script" -t 2000 -c 1 "$E2E_DATABASE_URL" 2>/dev/null \
    | awk '/latency average/ {print $4}'
}

# bench_cleanup: stops what bench-measure started, and keeps its figures and the tails of the
# other two systems' logs in .data/bench-last/ (the stack's folder goes with the stack).
bench_cleanup() {
  ceiling_stop
  drf_stop
  drf_postgres_stop
  local kept="$root/.data/bench-last" file
  rm -rf "$kept" && mkdir -p "$kept"
  for file in "$state"/*.txt "$state"/*.cpu "$state"/report.md; do
    [[ -f $file ]] && cp "$file" "$kept/"
  done
  [[ -f "$state/drf.log" ]] && tail -n 200 "$state/drf.log" >"$kept/drf.log"
  [[ -f "$state/ceiling/wrangler.log" ]] && tail -n 200 "$state/ceiling/wrangler.log" >"$kept/ceiling-wrangler.log"
  return 0
}

# Runs on the stack `cargo xtask stack` started (E2E_* variables; E2E_DATA_DIR is its folder).
cmd_bench_measure() {
  : "${E2E_EDGE_URL:?run ./dev bench, which starts the stack}"
  ensure_postgres
  state="$E2E_DATA_DIR/bench"
  mkdir -p "$state"
  : >"$state/runs.txt"; : >"$state/cpu.txt"; : >"$state/meta.txt"; : >"$state/checks.txt"
  EDGE="$E2E_EDGE_URL"
  trap bench_cleanup EXIT
  trap 'exit 130' INT TERM
  local started=$SECONDS size sizes
  measure_started=$SECONDS
  read -ra sizes <<<"$BENCH_SIZES"

  # 1M tasks take about 6 GB here: the stack's Postgres (the rows and their change records),
  # its D1 and the ceiling's copy (about 0.6 GB each), DRF's Postgres.
  local largest=0 free_gb
  for size in "${sizes[@]}"; do ((size > largest)) && largest=$size; done
  free_gb=$(($(df --output=avail -k "$state" | tail -n 1) / 1024 / 1024))
  if ((free_gb < 2 + largest * 8 / 1000000)); then
    die "only $free_gb GB free under ${state%/*/*}: the bench needs about $((2 + largest * 8 / 1000000)) GB for $largest tasks"
  fi
  # What the stack runs: the build wrangler dev loaded when xtask started it.
  local wasm="$root/edge/build/index_bg.wasm"
  meta commit "$(git -C "$root" rev-parse --short HEAD)$(git -C "$root" diff --quiet HEAD -- 2>/dev/null || echo ' (uncommitted changes)')"
  meta wasm_raw "$(stat -c %s "$wasm")"
  meta wasm_gzip "$(gzip -9 -c "$wasm" | wc -c)"

  say "The DRF reference: a Postgres cluster of its own, then gunicorn (in the background)"
  drf_postgres_start "$state/drf-pg"
  drf_launch "$state"

  say "Our stack: its processes and the runtime's own socket"
  find_stack
  local body
  body=$(curl -fsS "${BASE[runtime]}/health/") || die "the runtime socket does not answer /health/"
  note "GET ${BASE[runtime]}/health/: $body"

  say "Seeding our side: 2,000 tasks in one project (the nested project); 25 projects of 8 tasks"
  ours_user nested 1
  seed_tasks "$BENCH_PROJECTS" 2000
  ours_user projects 25
  seed_tasks "$BENCH_PROJECTS" 200
  resync
  drf_wait
  BASE[drf]="$DRF_URL"
  TREES[drf]="--tree gunicorn=$DRF_PGID --tree postgres=$(drf_postmaster_pid)"
  say "Seeding DRF's side the same way"
  drf_user nested 1
  drf_seed_tasks "$BENCH_PROJECTS" 2000
  drf_user projects 25
  drf_seed_tasks "$BENCH_PROJECTS" 200

  local first=1
  for size in "${sizes[@]}"; do
    seed_size "$size"
    say "The ceiling on a copy of the stack's D1 as it is now"
    ceiling_start "$state/ceiling" "$E2E_D1_DIR"
    meta "ceiling_cold_ms.$size" "$CEILING_COLD_MS"
    find_ceiling
    say "$size tasks: wrk -t2 -c$BENCH_CONNECTIONS, $BENCH_RUNS rounds of ${BENCH_SECONDS}s per target (warm-up ${BENCH_WARMUP}s)"
    local key="bulk$size"
    scenario "$size" list "$key" "/api/v1/tasks/?done=false&ordering=-due_date" "${READ_TARGETS[@]}"
    scenario "$size" detail "$key" "/api/v1/tasks/{task}/" "${READ_TARGETS[@]}"
    scenario "$size" search "$key" "/api/v1/tasks/?search=release+notes" "${READ_TARGETS[@]}"
    if [[ -n $first ]]; then
      # Once, at the first size: they read users of their own.
      scenario 0 health "" /health/ "${READ_TARGETS[@]}"
      # The ceiling again, writing one log line per request: what the edge's access line would
      # cost on every request (ACCESS_LOG=all) under wrangler dev, where it travels to the terminal.
      scenario 0 health-log "" "/health/?log=1" "${CEILING_TARGETS[@]}"
      scenario 200 projects projects /api/v1/projects/ "${READ_TARGETS[@]}"
      scenario 2000 nested nested /api/v1/projects/ "${READ_TARGETS[@]}"
      first=""
    fi
    # Last: it adds rows (ours and DRF's alike) to this size's user.
    scenario "$size" create "$key" /api/v1/tasks/ "${WRITE_TARGETS[@]}"
    meta "ceiling_strategy.$size" "$(sed -nE 's/.*ceiling: D1 strategy ([a-z]+).*/\1/p' "$state/ceiling/wrangler.log" | head -n 1)"
    ceiling_stop
  done

  local cold="?"
  if [[ -n "${BENCH_XTASK_LOG:-}" && -f "$BENCH_XTASK_LOG" ]]; then
    cold=$(sed -nE 's/.*edge cold start: ([0-9.]+) s.*/\1/p' "$BENCH_XTASK_LOG" | tail -n 1)
  fi
  meta cpu "$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs)"
  meta cores "$(nproc)"
  meta edge_cold_s "${cold:-?}"
  meta runs "$BENCH_RUNS"
  meta seconds "$BENCH_SECONDS"
  meta warmup "$BENCH_WARMUP"
  meta connections "$BENCH_CONNECTIONS"
  meta sizes "${sizes[*]}"
  meta quick "${BENCH_QUICK:-}"
  meta drf_workers "${WORKERS:-2}"
  say "The replay guard's cost: one nonce INSERT per forwarded request (pgbench, 2,000 inserts)"
  meta nonce_ms "$(nonce_cost)"
  meta measure_s $((SECONDS - started))

  local report="$state/report.md"
  python3 "$root/scripts/wrk_parse.py" --report "$state" >"$report"
  echo
  cat "$report"
  if [[ -n "${BENCH_QUICK:-}" ]]; then
    note "quick run: printed only, docs/benchmarks.md left as it was"
  else
    cp "$report" "$root/docs/benchmarks.md"
    note "written to docs/benchmarks.md"
  fi
}
