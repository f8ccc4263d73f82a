#!/usr/bin/env bash
# Start a throwaway PostgreSQL cluster for the tests (source this file: it exports DATABASE_URL).
set -euo pipefail
PGBIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
PGDATA=${PGDATA_DIR:-/tmp/valuecrm-pg}
PGPORT=${PGPORT:-55432}
if ! su postgres -s /bin/bash -c "$PGBIN/pg_ctl -D $PGDATA status" >/dev/null 2>&1; then
  rm -rf "$PGDATA"; mkdir -p "$PGDATA"; chown postgres:postgres "$PGDATA"
  su postgres -s /bin/bash -c "$PGBIN/initdb -D $PGDATA -A trust -U postgres -E UTF8 --locale=C.UTF-8" >/dev/null
  su postgres -s /bin/bash -c "$PGBIN/pg_ctl -D $PGDATA -o '-p $PGPORT -k /tmp -c fsync=off -c synchronous_commit=off -c full_page_writes=off' -l $PGDATA/log -w start" >/dev/null
fi
export DATABASE_URL="postgres://postgres@127.0.0.1:$PGPORT/valuecrm"
echo "PostgreSQL ready: $DATABASE_URL"
