#!/usr/bin/env bash
# Makes sure the local PostgreSQL and RabbitMQ answer, starting them the way this machine
# starts them when they do not. Skipped when DATABASE_URL / AMQP_URL point elsewhere.
set -uo pipefail

answers() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

wait_for() {
  local host=$1 port=$2 name=$3
  for _ in $(seq 1 60); do answers "$host" "$port" && return 0; sleep 1; done
  echo "ensure-services: $name on $host:$port does not answer" >&2
  return 1
}

if [ -z "${DATABASE_URL:-}" ] && ! answers 127.0.0.1 5432; then
  echo "ensure-services: starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start || true
  wait_for 127.0.0.1 5432 PostgreSQL || exit 1
fi
if [ -z "${AMQP_URL:-}" ] && ! answers 127.0.0.1 5672; then
  echo "ensure-services: starting RabbitMQ" >&2
  rabbitmq-server -detached || true
  wait_for 127.0.0.1 5672 RabbitMQ || exit 1
fi
