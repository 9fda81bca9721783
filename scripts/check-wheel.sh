#!/usr/bin/env bash
# The wheel works on its own: build it, install it into a fresh venv outside the checkout, and from a
# folder outside the checkout (HOME there too) import every module of geo, layers and api, run
# `dangjian --help` and `dangjian build` of the bundled demo district.  Also checks that every file under
# geo/, layers/ and api/ (code, static assets, catalogues, the demo district) is in the wheel.
# .ci/run calls it after the tests; by hand: bash scripts/check-wheel.sh (uses .venv's pip and its cache).
#
# The wheel is built from a copy of the files git knows (tracked and untracked-but-not-ignored), so a
# stale build/ folder, egg-info or ignored output (built GeoPackages) in the checkout cannot leak into it.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
pip="$root/.venv/bin/pip"
python="$root/.venv/bin/python"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/dangjian-wheel.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT
case "$tmp/" in "$root"/*) echo "check-wheel: the temporary folder $tmp is inside the checkout" >&2; exit 1 ;; esac
start=$SECONDS
step() { printf 'check-wheel [%3ds] %s\n' "$((SECONDS - start))" "$*"; }

step "copying the sources git knows to $tmp/src"
mkdir -p "$tmp/src"
git -C "$root" ls-files -z --cached --others --exclude-standard \
  | (cd "$root" && while IFS= read -r -d '' f; do [ -f "$f" ] && printf '%s\0' "$f"; done) \
  | tar -C "$root" --null -T - -cf - | tar -C "$tmp/src" -xf -

step "building the wheel"
env -u PYTHONDONTWRITEBYTECODE "$pip" wheel -v --no-deps -w "$tmp/wheel" "$tmp/src" >"$tmp/wheel.log" 2>&1 || { cat "$tmp/wheel.log" >&2; exit 1; }
if grep -i "warn" "$tmp/wheel.log" >&2; then
  echo "check-wheel: the wheel build printed warnings (above)" >&2
  exit 1
fi
wheel="$(ls "$tmp"/wheel/dangjian_map-*.whl)"
step "built $(basename "$wheel")"

# Every file of the packages' folders is in the wheel, and nothing else is.
"$python" - "$wheel" "$tmp/src" <<'EOF'
import sys
import zipfile
from pathlib import Path

wheel, src = sys.argv[1], Path(sys.argv[2])
packages = ("geo", "layers", "api")
inside = {n for n in zipfile.ZipFile(wheel).namelist() if n.split("/")[0] in packages and not n.endswith("/")}
sources = {p.relative_to(src).as_posix() for pkg in packages for p in (src / pkg).rglob("*") if p.is_file()}
missing, extra = sorted(sources - inside), sorted(inside - sources)
for name in missing:
    print(f"check-wheel: not in the wheel: {name}", file=sys.stderr)
for name in extra:
    print(f"check-wheel: in the wheel but not in the sources: {name}", file=sys.stderr)
if missing or extra or "layers/demo/kangbashi_demo.gpkg" not in inside:
    sys.exit(1)
print(f"check-wheel: the wheel holds all {len(sources)} files of {', '.join(packages)}")
EOF

step "installing it into a fresh venv (dependencies from the package index, pip's cache reused)"
"$python" -m venv --without-pip "$tmp/venv"
"$pip" --python "$tmp/venv/bin/python" install -q --no-compile "$wheel" >"$tmp/install.log" 2>&1 || { cat "$tmp/install.log" >&2; exit 1; }

# From here on: outside the checkout, with a HOME of its own, nothing of the checkout on the path.
mkdir -p "$tmp/run" "$tmp/home" "$tmp/data"
cd "$tmp/run"
run() {
  env -u PYTHONPATH -u PYTHONHOME HOME="$tmp/home" XDG_CACHE_HOME="$tmp/home/.cache" \
    XDG_CONFIG_HOME="$tmp/home/.config" XDG_DATA_HOME="$tmp/home/.local/share" XDG_STATE_HOME="$tmp/home/.local/state" MPLCONFIGDIR="$tmp/home/.mpl" \
    DANGJIAN_DATA_DIR="$tmp/data" PATH="$tmp/venv/bin:$PATH" "$@"
}

step "importing every module of geo, layers and api from the installed packages"
run python - <<'EOF'
import importlib
import pkgutil
import sys
import sysconfig
import traceback
from pathlib import Path

site = Path(sysconfig.get_paths()["purelib"]).resolve()
failed: list[str] = []
count = 0
for name in ("geo", "layers", "api"):
    package = importlib.import_module(name)
    where = Path(package.__file__).resolve()
    if site not in where.parents:
        sys.exit(f"check-wheel: `{name}` was imported from {where}, not from the venv's {site}")

    def walk_error(module: str) -> None:
        failed.append(module)
        traceback.print_exc()

    for info in pkgutil.walk_packages(package.__path__, f"{name}.", onerror=walk_error):
        try:
            importlib.import_module(info.name)
            count += 1
        except Exception:
            failed.append(info.name)
            traceback.print_exc()
if failed:
    sys.exit(f"check-wheel: cannot import {', '.join(failed)}")
print(f"check-wheel: imported {count} modules")
EOF

step "dangjian --help"
run dangjian --help >"$tmp/help.txt"
grep -q "build" "$tmp/help.txt" || { cat "$tmp/help.txt" >&2; echo "check-wheel: --help does not list build" >&2; exit 1; }

step "dangjian build (the bundled demo district)"
touch "$tmp/before-build"
run dangjian build
written="$(find "$tmp/venv" "$tmp/data" -name '*.gpkg' -newer "$tmp/before-build" | head -1)"
[ -n "$written" ] || { echo "check-wheel: dangjian build wrote no GeoPackage under $tmp" >&2; exit 1; }

step "the wheel works outside the checkout"
