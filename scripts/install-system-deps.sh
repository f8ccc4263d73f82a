#!/usr/bin/env bash
# Installs what the test suite needs from Debian's packages, only when missing:
# Chromium for the browser tests and PostgreSQL for the database tests.
set -euo pipefail
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
command -v msgfmt >/dev/null || need+=(gettext)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || need+=(postgresql)
# pg_dump/pg_restore for `valuecrm backup` on PostgreSQL.
command -v pg_dump >/dev/null && command -v pg_restore >/dev/null || need+=(postgresql-client)
# Chinese fonts, so 中文 screenshots show characters rather than boxes.
fc-list 2>/dev/null | grep -qi "noto sans cjk\|wqy" || need+=(fonts-noto-cjk)
# Redis: the production profile's queue/cache/sessions, and the worker tests' second broker.
command -v redis-server >/dev/null || need+=(redis-server)
# Dovecot: the throwaway IMAP server of the service e-mail round-trip test (scripts/start-dovecot.sh).
[ -x /usr/sbin/dovecot ] || need+=(dovecot-imapd)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
