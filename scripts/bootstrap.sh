#!/usr/bin/env bash
# Makes Node >= 22.18 and the pinned pnpm available, installing them into .tools/ (ignored by git)
# with the machine's npm when its own are older or missing. Source it (`. scripts/bootstrap.sh`)
# to get them on PATH in your shell: it leaves your shell's options as they were, and returns
# (never exits) non-zero when it cannot.

defib_bootstrap() {
  local root tools node_version node_major node_minor pnpm_version platform arch
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)" || return 1
  tools="$root/.tools"
  pnpm_version="$(sed -n 's/.*"packageManager": *"pnpm@\([^"]*\)".*/\1/p' "$root/package.json")"

  node_version="$(node -p 'process.versions.node' 2>/dev/null || echo 0.0.0)"
  node_major="${node_version%%.*}"
  node_minor="${node_version#*.}"; node_minor="${node_minor%%.*}"
  if [ "$node_major" -lt 22 ] || { [ "$node_major" -eq 22 ] && [ "$node_minor" -lt 18 ]; }; then
    case "$(uname -s)" in Linux) platform=linux ;; Darwin) platform=darwin ;; *) platform=unsupported ;; esac
    case "$(uname -m)" in x86_64 | amd64) arch=x64 ;; aarch64 | arm64) arch=arm64 ;; *) arch=unsupported ;; esac
    local node_bin="$tools/node/node_modules/node-$platform-$arch/bin"
    if [ ! -x "$node_bin/node" ]; then
      if ! command -v npm >/dev/null 2>&1 || [ "$platform" = unsupported ] || [ "$arch" = unsupported ]; then
        echo "bootstrap: Defib needs Node.js >= 22.18 (found ${node_version/#0.0.0/none}); install Node 24 from https://nodejs.org and run this again" >&2
        return 1
      fi
      echo "bootstrap: installing Node 24 into .tools/node (found ${node_version/#0.0.0/none}; Defib needs >= 22.18)" >&2
      npm install --prefix "$tools/node" --no-save --no-package-lock --no-audit --no-fund "node-$platform-$arch@24" >&2 || return 1
    fi
    export PATH="$node_bin:$PATH"
  fi

  if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$pnpm_version" ]; then
    if [ ! -x "$tools/pnpm/node_modules/.bin/pnpm" ]; then
      echo "bootstrap: installing pnpm $pnpm_version into .tools/pnpm" >&2
      npm install --prefix "$tools/pnpm" --no-save --no-package-lock --no-audit --no-fund "pnpm@$pnpm_version" >&2 || return 1
    fi
    export PATH="$tools/pnpm/node_modules/.bin:$PATH"
  fi
}

defib_bootstrap
