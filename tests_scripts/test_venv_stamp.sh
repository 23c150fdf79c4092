#!/usr/bin/env bash
# scripts/lib/envs.sh rebuilds a venv when the interpreter that made it changes, and
# keeps it while nothing changed. Uses the oldest environment's Python 3.13 (native)
# under two paths, in a scratch cache; building a real venv takes minutes and the
# package registry, so build_venv only records what it was asked to build.
set -uo pipefail
source "$(dirname "$0")/../scripts/lib/envs.sh"
python313=$(find_python313) || { echo "skipped: no Python 3.13"; exit 0; }

TMP=$(mktemp -d)
on_exit 'rm -rf "$TMP"'
CACHE="$TMP/cache"
mkdir -p "$TMP/one" "$TMP/two"
ln -s "$python313" "$TMP/one/python3.13"
ln -s "$python313" "$TMP/two/python3.13"
build_venv() { mkdir -p "$2"; touch "$2/pyvenv.cfg"; echo "$PYTHON_BIN" >>"$TMP/builds"; }
builds() { cat "$TMP/builds" 2>/dev/null | wc -l; }

failures=0
check() {  # check DESCRIPTION CMD...: CMD's exit status decides
    local description=$1; shift
    if "$@"; then echo "ok: $description"; else echo "FAILED: $description"; failures=$((failures + 1)); fi
}

WAKEUP_PYTHON313="$TMP/one/python3.13" ensure_venv oldest
first=$(builds)

kept() { WAKEUP_PYTHON313="$TMP/one/python3.13" ensure_venv oldest; [ "$(builds)" = "$first" ]; }
check "a venv of the same interpreter is kept" kept

records_interpreter() {
    local version; version=$("$TMP/one/python3.13" -c 'import sys; print(sys.version)')
    grep -qxF "python native $TMP/one/python3.13 $version" "$(venv_dir oldest)/.stamp"
}
check "the stamp records native or chroot, the interpreter's path and its full version" records_interpreter

rebuilt() {
    WAKEUP_PYTHON313="$TMP/two/python3.13" ensure_venv oldest
    [ "$(tail -n 1 "$TMP/builds")" = "$TMP/two/python3.13" ] && [ "$(builds)" = $((first + 1)) ]
}
check "a venv made by another interpreter is rebuilt with the new one" rebuilt

[ "$failures" -eq 0 ]
