#!/usr/bin/env bash
# Start a throwaway Redis on 127.0.0.1 for the tests and the production walk-through
# (source this file: it exports VALUECRM_REDIS_URL). Debian's redis-server, no disk persistence.
set -euo pipefail
REDIS_PORT=${REDIS_PORT:-56379}
REDIS_DIR=${REDIS_DIR:-/tmp/valuecrm-redis}
if ! redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1; then
  mkdir -p "$REDIS_DIR"
  redis-server --bind 127.0.0.1 --port "$REDIS_PORT" --dir "$REDIS_DIR" --save "" --appendonly no \
    --daemonize yes --pidfile "$REDIS_DIR/redis.pid" --logfile "$REDIS_DIR/redis.log"
  for _ in $(seq 50); do redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
fi
export VALUECRM_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
echo "Redis ready: $VALUECRM_REDIS_URL"
