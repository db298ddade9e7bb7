#!/usr/bin/env bash
# Installs, where the machine allows, the third-party clients some tests drive against Defib's
# simulator: the standard OpenStack client (Debian's python3-openstackclient). Best effort: the
# tests that need a missing client are skipped and say so.
set -uo pipefail

if ! command -v openstack >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "ensure-test-tools: installing python3-openstackclient" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-openstackclient; } >/dev/null 2>&1 \
    || echo "ensure-test-tools: could not install python3-openstackclient; its tests will be skipped" >&2
fi
exit 0
