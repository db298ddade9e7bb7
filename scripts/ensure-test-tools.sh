#!/usr/bin/env bash
# Installs, where the machine allows, the third-party clients some tests drive: the standard
# OpenStack client (Debian's python3-openstackclient) against the simulator, and curl, which the
# README examples test runs the README's commands with. Best effort: the openstack-client tests
# are skipped when it is missing and say so; the README test needs curl.
set -uo pipefail

if ! command -v openstack >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "ensure-test-tools: installing python3-openstackclient" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends python3-openstackclient; } >/dev/null 2>&1 \
    || echo "ensure-test-tools: could not install python3-openstackclient; its tests will be skipped" >&2
fi
if ! command -v curl >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "ensure-test-tools: installing curl" >&2
  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends curl; } >/dev/null 2>&1 \
    || echo "ensure-test-tools: could not install curl; the README examples test will fail" >&2
fi
exit 0
