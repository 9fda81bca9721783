#!/usr/bin/env bash
# Install the Debian packages the tests use, when missing: Chromium + driver (browser test), CJK fonts
# (report maps), PostgreSQL + PostGIS (the PostGIS store tests start their own throwaway cluster).
set -euo pipefail

pg_version() {  # newest installed PostgreSQL server major version, or nothing
  { ls -d /usr/lib/postgresql/*/bin/initdb 2>/dev/null || true; } | sed -E 's#.*/postgresql/([0-9]+)/bin/initdb#\1#' | sort -n | tail -1
}

need=()
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v chromedriver >/dev/null 2>&1 || need+=(chromium-driver)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK\|WenQuanYi" || need+=(fonts-noto-cjk fontconfig)
pg="$(pg_version)"
[ -n "$pg" ] || need+=(postgresql)
if [ -n "$pg" ] && [ ! -f "/usr/share/postgresql/$pg/extension/postgis.control" ]; then
  need+=("postgresql-$pg-postgis-3")
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "missing Debian packages: ${need[*]} (run as root or: sudo apt-get install ${need[*]})" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive

# apt-get that waits (up to 10 minutes) for a lock held by another apt or dpkg instead of failing at once.
# DPkg::Lock::Timeout covers dpkg's locks (install); apt 2.6 still fails at once on the lists lock
# (update) and the archives lock, so those are retried while their message says the lock is held.
apt_get() {
  local deadline=$((SECONDS + 600)) log
  while :; do
    if log="$(LC_ALL=C apt-get -o DPkg::Lock::Timeout=600 "$@" 2>&1)"; then
      grep '^W:' <<<"$log" >&2 || true  # warnings still show
      return 0
    fi
    if grep -q "Could not get lock" <<<"$log" && [ "$SECONDS" -lt "$deadline" ]; then
      sleep 5
      continue
    fi
    printf '%s\n' "$log" >&2
    return 1
  done
}
# The tests run their own cluster: don't let the postgresql package create and start a "main" one.
mkdir -p /etc/postgresql-common/createcluster.d
[ -f /etc/postgresql-common/createcluster.d/dangjian.conf ] || echo "create_main_cluster = false" \
  > /etc/postgresql-common/createcluster.d/dangjian.conf
apt_get update -qq
apt_get install -y -qq --no-install-recommends "${need[@]}"
pg="$(pg_version)"
if [ -n "$pg" ] && [ ! -f "/usr/share/postgresql/$pg/extension/postgis.control" ]; then
  apt_get install -y -qq --no-install-recommends "postgresql-$pg-postgis-3"
fi
