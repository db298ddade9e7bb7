#!/usr/bin/env bash
# Stops the OpenStack Zed services that scripts/openstack-zed/setup.sh started: each one's process
# group, by the pid file it left under /var/lib/defib-zed/run. Databases, the RabbitMQ vhost and
# the state stay; setup.sh starts the services again.
set -uo pipefail

HOME_DIR=${DEFIB_ZED_HOME:-/var/lib/defib-zed}

for pidfile in "$HOME_DIR"/run/*.pid; do
  [ -e "$pidfile" ] || continue
  name=$(basename "$pidfile" .pid)
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 20); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -0 "$pid" 2>/dev/null && kill -KILL -- "-$pid" 2>/dev/null
    echo "stopped $name"
  fi
  rm -f "$pidfile"
done
