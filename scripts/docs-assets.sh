#!/usr/bin/env bash
# The edge's static assets (wrangler.toml `[assets]`): the API docs, Swagger UI at /api/docs/ and
# Redoc at /api/redoc/, gathered into edge/build/assets/ (build output, git-ignored).
#
# - Our own files, committed: everything under edge/assets/ (the pages, Swagger UI's init.js,
#   `_headers` with the pages' CSP).
# - The OpenAPI document's two committed forms (openapi/), at /api/schema/openapi.{yaml,json}:
#   the worker reads them through the ASSETS binding to answer /api/schema/ (so the wasm does
#   not carry them), and they are public, cacheable files in their own right.
# - The vendor files: copied from the npm packages package.json pins exactly (swagger-ui-dist,
#   redoc), which `./dev` installs from package-lock.json. Never a CDN. package.json's
#   `scarfSettings` turns off the install-time analytics of swagger-ui-dist's @scarf/scarf.
#
# Run by scripts/build-edge.sh, so by every ./dev command that builds and by wrangler's [build].
# A file is written only when its content differs and a file no longer listed is removed: a
# second run changes nothing, and a running `wrangler dev` (which watches the folder) sees no
# change.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
own="$root/edge/assets"
modules="$root/node_modules"
out="$root/edge/build/assets"

# Each line: the path served (under $out), then the file in node_modules it is copied from.
vendor="
api/docs/swagger-ui-bundle.js              swagger-ui-dist/swagger-ui-bundle.js
api/docs/swagger-ui-bundle.js.LICENSE.txt  swagger-ui-dist/swagger-ui-bundle.js.LICENSE.txt
api/docs/swagger-ui.css                    swagger-ui-dist/swagger-ui.css
api/docs/favicon-16x16.png                 swagger-ui-dist/favicon-16x16.png
api/docs/favicon-32x32.png                 swagger-ui-dist/favicon-32x32.png
api/docs/LICENSE.txt                       swagger-ui-dist/LICENSE
api/docs/NOTICE.txt                        swagger-ui-dist/NOTICE
api/redoc/redoc.standalone.js              redoc/bundles/redoc.standalone.js
api/redoc/redoc.standalone.js.LICENSE.txt  redoc/bundles/redoc.standalone.js.LICENSE.txt
api/redoc/LICENSE.txt                      redoc/LICENSE
"

declare -A sources=()
while IFS= read -r file; do
  sources["${file#"$own/"}"]="$file"
done < <(find "$own" -type f)
while read -r served from; do
  [[ -n "$served" ]] || continue
  [[ -f "$modules/$from" ]] || {
    echo "docs-assets: $modules/$from is missing: install the npm packages (./dev setup)" >&2
    exit 1
  }
  [[ -z "${sources[$served]:-}" ]] || {
    echo "docs-assets: $served is both in edge/assets/ and copied from node_modules" >&2
    exit 1
  }
  sources["$served"]="$modules/$from"
done <<<"$vendor"
sources["api/schema/openapi.yaml"]="$root/openapi/openapi.yaml"
sources["api/schema/openapi.json"]="$root/openapi/openapi.json"

mkdir -p "$out"
for served in "${!sources[@]}"; do
  if ! cmp -s "${sources[$served]}" "$out/$served"; then
    mkdir -p "$(dirname "$out/$served")"
    cp "${sources[$served]}" "$out/$served"
  fi
done
while IFS= read -r file; do
  [[ -n "${sources[${file#"$out/"}]:-}" ]] || rm -f "$file"
done < <(find "$out" -type f)
find "$out" -mindepth 1 -type d -empty -delete
