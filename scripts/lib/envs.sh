# shellcheck shell=bash
# Shared by scripts/setup, scripts/test and scripts/develop: the two Home Assistant
# environments of TOOLCHAIN.md and how to run a command inside either of them.
#
#   latest: Python >= 3.14.2, requirements/latest.txt (newest HA that phcc pins)
#   oldest: Python 3.13,      requirements/oldest.txt (HA 2025.4, hacs.json's minimum)
#
# Python 3.14 is used natively when the machine has it; otherwise, as root on Debian,
# from a Debian sid root filesystem kept in .cache/ and entered with chroot.

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
CACHE="$REPO/.cache"
ROOTFS="$CACHE/rootfs-sid"
ROOTFS_PACKAGES="python3.14,python3.14-venv,python3.14-dev,ca-certificates,build-essential,git,espeak-ng,sox"
HOST_CA=/etc/ssl/certs/ca-certificates.crt

# Cleanups run once on exit, whatever the reason (error, Ctrl-C, normal end).
CLEANUPS=()
_run_cleanups() {
    local i
    for ((i = ${#CLEANUPS[@]} - 1; i >= 0; i--)); do eval "${CLEANUPS[i]}" || true; done
    CLEANUPS=()
}
trap _run_cleanups EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
on_exit() { CLEANUPS+=("$1"); }

# Stop a process and everything it started (a background in_env runs chroot, then the program).
kill_tree() {
    local pid=$1 child
    for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do kill_tree "$child"; done
    kill -TERM "$pid" 2>/dev/null || true
}

log() { printf '\033[1m==> %s\033[0m\n' "$*" >&2; }
die() { printf 'error: %s\n' "$*" >&2; exit 1; }

venv_dir() { printf '%s/venv-%s' "$CACHE" "$1"; }

# --- system packages ----------------------------------------------------------------

# espeak-ng and sox give the simulator's sleepers real speech; without them it falls
# back to synthetic audio. nginx is the reverse proxy the connectivity self-test is
# tested behind (tests/test_selftest_proxy.py starts its own on loopback ports; the
# package's service is never started). Installed when we are root on Debian and they
# are missing.
apt_install() {
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null 2>&1 \
        || { apt-get update -q >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}

# apt_install_no_services PKG...: install without starting any service the packages
# bring (nginx's would take port 80): a policy-rc.d that refuses, unless one exists.
apt_install_no_services() {
    local policy=/usr/sbin/policy-rc.d rc=0
    if [ -e "$policy" ]; then apt_install "$@" || rc=$?; return "$rc"; fi
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod 755 "$policy"
    apt_install "$@" || rc=$?
    rm -f "$policy"
    return "$rc"
}

ensure_system_packages() {
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || return 0
    local missing=() tool
    for tool in espeak-ng sox; do command -v "$tool" >/dev/null || missing+=("$tool"); done
    if [ ${#missing[@]} -gt 0 ]; then
        log "installing ${missing[*]}"
        apt_install "${missing[@]}" || log "could not install ${missing[*]}; the simulator will use synthetic audio"
    fi
    if [ ! -x /usr/sbin/nginx ]; then
        log "installing nginx (its service stays off)"
        apt_install_no_services nginx || log "could not install nginx; the reverse proxy tests will fail"
    fi
}

# The sid root filesystem runs the latest environment's tests, which start nginx too:
# installed into it without rebuilding it (others may be using it), services refused.
ensure_rootfs_nginx() {
    [ -x "$ROOTFS/usr/sbin/nginx" ] && return 0
    local lock; exec {lock}>"$CACHE/rootfs-apt.lock"
    flock -x "$lock"
    if [ ! -x "$ROOTFS/usr/sbin/nginx" ]; then
        log "installing nginx into ${ROOTFS#"$REPO"/} (its service stays off)"
        [ -e "$ROOTFS/usr/sbin/policy-rc.d" ] \
            || { printf '#!/bin/sh\nexit 101\n' >"$ROOTFS/usr/sbin/policy-rc.d" && chmod 755 "$ROOTFS/usr/sbin/policy-rc.d"; }
        chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
            bash -c 'apt-get install -y -q nginx >/dev/null 2>&1 || { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q nginx >/dev/null; }' \
            || log "could not install nginx into the root filesystem; the reverse proxy tests will fail in latest"
    fi
    exec {lock}>&-
}

# ensure_chromium ENV: Debian's chromium where ENV runs (the browser tests and
# scripts/screenshots drive it with Playwright, which never downloads a browser): in
# the sid root filesystem when ENV runs there, else on this machine. Needs ensure_venv ENV.
ensure_chromium() {
    local env=$1
    if uses_py314 "$env" && latest_kind_is chroot; then
        [ -x "$ROOTFS/usr/bin/chromium" ] && return 0
        log "installing chromium in the root filesystem"
        enter_env "$env"
        chroot "$ROOTFS" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive \
            bash -c 'apt-get update -q >/dev/null && apt-get install -y -q --no-install-recommends chromium fonts-liberation >/dev/null' \
            || die "could not install chromium in $ROOTFS"
        return 0
    fi
    command -v chromium >/dev/null && return 0
    [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || die "install chromium (Debian: apt-get install chromium)"
    log "installing chromium"
    apt_install chromium fonts-liberation || die "could not install chromium"
}

# --- finding a Python ------------------------------------------------------------

python_ok() {  # python_ok BIN MAJOR.MINOR [MIN_PATCH]
    local bin=$1 want=$2 min_patch=${3:-0}
    "$bin" -c "import sys; v=sys.version_info; raise SystemExit(0 if f'{v[0]}.{v[1]}'=='$want' and v[2]>=$min_patch else 1)" 2>/dev/null
}

find_python313() {
    local candidate
    for candidate in "${WAKEUP_PYTHON313:-}" python3.13 "$(pyenv root 2>/dev/null)"/versions/3.13.*/bin/python3.13; do
        [ -n "$candidate" ] || continue
        if python_ok "$candidate" 3.13; then command -v "$candidate"; return 0; fi
    done
    return 1
}

find_python314() {
    local candidate
    for candidate in "${WAKEUP_PYTHON314:-}" python3.14; do
        [ -n "$candidate" ] || continue
        if python_ok "$candidate" 3.14 2; then command -v "$candidate"; return 0; fi
    done
    return 1
}

# latest_kind_is native|chroot: how the latest environment runs on this machine.
# Probed once per shell, and not in a subshell, so that `die` stops the script.
LATEST_KIND=""
latest_kind_is() {
    if [ -z "$LATEST_KIND" ]; then
        if [ "${WAKEUP_FORCE_CHROOT:-0}" != 1 ] && find_python314 >/dev/null; then
            LATEST_KIND=native
        elif [ "$(id -u)" = 0 ] && [ -f /etc/debian_version ]; then
            LATEST_KIND=chroot
        else
            die "no Python >= 3.14.2 found. Install python3.14 (or set WAKEUP_PYTHON314), or run as root on Debian so that scripts/setup can build a Debian sid root filesystem."
        fi
    fi
    [ "$LATEST_KIND" = "$1" ]
}

# --- the sid root filesystem -------------------------------------------------------

# mounts_under DIR: every mount point at or below DIR, one a line, read from the mount
# table itself: `findmnt -R DIR` prints nothing when DIR is not a mount point, however
# much is mounted below it. The table escapes tab, space and backslash as \011, \040
# and \134 (decoded here; a newline stays \012).
mounts_under() {
    local dir; dir=$(realpath -m "$1")
    awk '{print $5}' /proc/self/mountinfo \
        | sed 's/\\011/\t/g; s/\\040/ /g; s/\\134/\\/g' \
        | DIR="$dir" awk '$0 == ENVIRON["DIR"] || index($0, ENVIRON["DIR"] "/") == 1'
}

rootfs_mounts() { mounts_under "$ROOTFS"; }

ensure_rootfs() {
    local stamp="$ROOTFS/.wakeup-coach-rootfs"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$ROOTFS_PACKAGES" ]; then return 0; fi
    if [ -e "$ROOTFS" ]; then
        # Never delete a root filesystem with anything mounted inside it: rm -rf would walk into /dev, /proc or the checkout.
        local mounted; mounted=$(rootfs_mounts)
        [ -z "$mounted" ] || die "refusing to rebuild $ROOTFS: still mounted: ${mounted//$'\n'/, }"
        log "removing outdated $ROOTFS"
        rm -rf --one-file-system "$ROOTFS"
    fi
    command -v mmdebstrap >/dev/null || { log "installing mmdebstrap"; apt_install mmdebstrap; }
    local mirror
    mirror=$(awk '/^URIs:/{print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
    [ -n "$mirror" ] || mirror=$(awk '/^deb /{print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    [ -n "$mirror" ] || die "cannot read a Debian mirror from the host's apt sources"
    log "building a Debian sid root filesystem for Python 3.14 (about a minute)"
    mkdir -p "$CACHE"
    mmdebstrap --quiet --aptopt='Acquire::Check-Valid-Until "false"' --variant=apt \
        --include="$ROOTFS_PACKAGES" sid "$ROOTFS.tmp" "$mirror"
    mv "$ROOTFS.tmp" "$ROOTFS"
    echo "$ROOTFS_PACKAGES" >"$stamp"
}

# Mounts are shared between concurrent users of one rootfs (a test run beside scripts/develop):
# each holds a shared lock, and whoever can take the lock exclusively on the way out unmounts.
_mount_rootfs() {
    mkdir -p "$CACHE"
    exec {ROOTFS_LOCK_FD}>"$CACHE/rootfs.lock"
    flock -s "$ROOTFS_LOCK_FD"
    cp "$HOST_CA" "$ROOTFS/etc/ssl/certs/host-ca.crt"
    cp /etc/resolv.conf "$ROOTFS/etc/resolv.conf" 2>/dev/null || true
    mountpoint -q "$ROOTFS/proc" || mount -t proc proc "$ROOTFS/proc"
    local dir
    for dir in dev sys; do
        if ! mountpoint -q "$ROOTFS/$dir"; then
            mount --rbind "/$dir" "$ROOTFS/$dir"
            mount --make-rslave "$ROOTFS/$dir"
        fi
    done
    mkdir -p "$ROOTFS$REPO"
    mountpoint -q "$ROOTFS$REPO" || mount --bind "$REPO" "$ROOTFS$REPO"
}

_unmount_rootfs() {
    [ -n "${ROOTFS_LOCK_FD:-}" ] || return 0
    if flock -x -n "$ROOTFS_LOCK_FD"; then
        local target
        for target in "$ROOTFS$REPO" "$ROOTFS/sys" "$ROOTFS/dev" "$ROOTFS/proc"; do
            mountpoint -q "$target" && umount -R "$target" 2>/dev/null || umount -R -l "$target" 2>/dev/null || true
        done
    fi
    exec {ROOTFS_LOCK_FD}>&-
    ROOTFS_LOCK_FD=
}

# --- running inside an environment ------------------------------------------------

# Which Python an environment runs on: "oldest" on 3.13, everything else on 3.14.
uses_py314() { [ "$1" != oldest ]; }

# Variables a command may need inside the chroot, which starts from an empty environment.
PASS_ENV=(TERM CI PYTEST_ADDOPTS WAKEUP_BENCH WAKEUP_DEVELOP_PORT WAKEUP_DEVELOP_URL WAKEUP_SIM_PORT COLUMNS WAKEUP_REQUIRE_NGINX)

# enter_env ENV: make the environment usable by background jobs too (mount the root
# filesystem now, in this shell, and unmount it when this script exits).
enter_env() {
    if uses_py314 "$1" && latest_kind_is chroot && [ -z "${ROOTFS_LOCK_FD:-}" ]; then
        _mount_rootfs
        if [ "$BASHPID" = "$$" ]; then
            on_exit _unmount_rootfs
        else
            # A subshell (`in_env latest ... | grep`, `$(in_env ...)`) runs no EXIT trap of
            # the script's: it must unmount on its own way out.
            trap _unmount_rootfs EXIT
        fi
    fi
}

# in_env ENV CMD...: run CMD from the repository root with ENV's venv first on PATH.
in_env() {
    local env=$1; shift
    local venv; venv=$(venv_dir "$env")
    if uses_py314 "$env" && latest_kind_is chroot; then
        local -a vars=(PATH="$venv/bin:/usr/local/bin:/usr/bin:/bin" HOME=/root LANG=C.UTF-8
                       SSL_CERT_FILE=/etc/ssl/certs/host-ca.crt PIP_CERT=/etc/ssl/certs/host-ca.crt
                       REQUESTS_CA_BUNDLE=/etc/ssl/certs/host-ca.crt PIP_DISABLE_PIP_VERSION_CHECK=1
                       VIRTUAL_ENV="$venv")
        local name
        for name in "${PASS_ENV[@]}"; do [ -n "${!name:-}" ] && vars+=("$name=${!name}"); done
        enter_env "$env"
        chroot "$ROOTFS" /usr/bin/env -i "${vars[@]}" bash -c 'cd "$0" && exec "$@"' "$REPO" "$@"
        return
    fi
    (cd "$REPO" && PATH="$venv/bin:$PATH" VIRTUAL_ENV="$venv" "$@")
}

# --- venvs -------------------------------------------------------------------------

requirements_file() { printf '%s/requirements/%s.txt' "$REPO" "$1"; }

requirements_closure() {  # a requirements file and every file it includes with -r
    local file=$1 included
    echo "$file"
    for included in $(awk '$1 == "-r" {print $2}' "$file"); do
        requirements_closure "$(dirname "$file")/$included"
    done
}

requirements_stamp() {  # the requirement files a venv is built from
    requirements_closure "$(requirements_file "$1")" | xargs cat | sha256sum | cut -c1-16
}

# pick_python ENV: sets PYTHON_KIND (native or chroot) and PYTHON_BIN, the interpreter
# ENV's venv is made with (in the chroot: a path inside the root filesystem, built here if
# needed). Not in a subshell, so that `die` stops the script.
pick_python() {
    local env=$1
    PYTHON_KIND=native
    if ! uses_py314 "$env"; then
        PYTHON_BIN=$(find_python313) || die "no Python 3.13 found (tried python3.13 and pyenv's 3.13.*); set WAKEUP_PYTHON313"
    elif latest_kind_is native; then
        PYTHON_BIN=$(find_python314)
    else
        ensure_rootfs
        PYTHON_KIND=chroot
        PYTHON_BIN=/usr/bin/python3.14
    fi
}

# venv_stamp ENV: everything ENV's venv depends on; a change rebuilds it. The requirement
# files, and the interpreter the venv is tied to: native or chroot, its path, its exact
# version and build (a venv of another interpreter half works at best). Needs pick_python
# and enter_env first (a subshell must not mount the rootfs: it would not unmount it).
venv_stamp() {
    local env=$1 version
    version=$(in_env "$env" "$PYTHON_BIN" -c 'import sys; print(sys.version.replace(chr(10), " "))') \
        || die "cannot run $PYTHON_BIN ($PYTHON_KIND)"
    printf 'requirements %s\npython %s %s %s\n' "$(requirements_stamp "$env")" "$PYTHON_KIND" "$PYTHON_BIN" "$version"
}

build_venv() {  # build_venv ENV VENV: a fresh venv of PYTHON_BIN with ENV's requirements
    local env=$1 venv=$2
    rm -rf "$venv"
    in_env "$env" "$PYTHON_BIN" -m venv "$venv"
    in_env "$env" python -m pip install --quiet --upgrade pip
    in_env "$env" python -m pip install --quiet -r "requirements/$env.txt"
}

ensure_venv() {
    local env=$1 venv; venv=$(venv_dir "$env")
    [ -f "$(requirements_file "$env")" ] || die "unknown environment $env"
    pick_python "$env"
    enter_env "$env"
    if [ "$PYTHON_KIND" = chroot ]; then ensure_rootfs_nginx; fi
    local stamp; stamp=$(venv_stamp "$env") || exit 1
    # One build at a time per venv: a second run waits, then finds it current.
    mkdir -p "$CACHE"
    local lock; exec {lock}>"$CACHE/venv-$env.lock"
    flock -x -n "$lock" || { log "waiting for another run building the $env environment"; flock -x "$lock"; }
    if [ -f "$venv/.stamp" ] && [ "$(cat "$venv/.stamp")" = "$stamp" ] && [ -f "$venv/pyvenv.cfg" ]; then
        exec {lock}>&-
        return 0
    fi
    log "creating the $env environment in ${venv#"$REPO"/} (${stamp#*$'\n'python })"
    build_venv "$env" "$venv"
    printf '%s\n' "$stamp" >"$venv/.stamp"
    exec {lock}>&-
}

parse_env_args() {  # sets ENVS from --latest / --oldest (default: both)
    ENVS=()
    local arg
    for arg in "$@"; do
        case "$arg" in
            --latest) ENVS+=(latest);;
            --oldest) ENVS+=(oldest);;
            *) REST_ARGS+=("$arg");;
        esac
    done
    [ ${#ENVS[@]} -gt 0 ] || ENVS=(latest oldest)
}
