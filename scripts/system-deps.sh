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
# The tests run their own cluster: don't let the postgresql package create and start a "main" one.
mkdir -p /etc/postgresql-common/createcluster.d
[ -f /etc/postgresql-common/createcluster.d/dangjian.conf ] || echo "create_main_cluster = false" \
  > /etc/postgresql-common/createcluster.d/dangjian.conf
apt-get update -qq >/dev/null
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
pg="$(pg_version)"
if [ -n "$pg" ] && [ ! -f "/usr/share/postgresql/$pg/extension/postgis.control" ]; then
  apt-get install -y -qq --no-install-recommends "postgresql-$pg-postgis-3" >/dev/null
fi
