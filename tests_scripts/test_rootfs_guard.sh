#!/usr/bin/env bash
# scripts/lib/envs.sh never deletes a root filesystem that still has something mounted
# inside it (rm -rf would walk into the bind mounts of the checkout, /dev, /proc).
# A real bind mount, so it needs root (as in CI); skipped otherwise.
#
# The test runs in a mount namespace of its own (unshare): its mount goes away with the
# namespace even if the test is killed, and never shows in the host's mount table. A trap
# unmounts it on every other way out as well.
set -uo pipefail
if [ "${1:-}" != --in-namespace ]; then
    if [ "$(id -u)" != 0 ]; then echo "skipped: bind mounts need root"; exit 0; fi
    exec unshare --mount --propagation private bash "$0" --in-namespace
fi
source "$(dirname "$0")/../scripts/lib/envs.sh"

TMP=$(mktemp -d)
# Remove the scratch directory only once nothing is mounted inside it.
on_exit '[ -z "$(mounts_under "$TMP")" ] && rm -rf --one-file-system "$TMP"'
ROOTFS="$TMP/rootfs sid"            # a space: the mount table writes it as \040
CHECKOUT="$TMP/checkout"            # stands in for the checkout bind-mounted inside
BIND="$ROOTFS$CHECKOUT"
set -e
mkdir -p "$CHECKOUT" "$BIND" "$ROOTFS/etc"
echo "a file of the checkout" >"$CHECKOUT/precious"
echo "packages of an older build" >"$ROOTFS/.wakeup-coach-rootfs"   # an outdated rootfs: rebuild it
mount --bind "$CHECKOUT" "$BIND"
on_exit 'umount -R "$BIND"'
set +e

# Were the guard to let the rebuild through, it must not build a real root filesystem.
mmdebstrap() { echo "mmdebstrap ran" >&2; return 1; }

failures=0
check() {  # check DESCRIPTION CMD...: CMD's exit status decides
    local description=$1; shift
    if "$@"; then echo "ok: $description"; else echo "FAILED: $description"; failures=$((failures + 1)); fi
}

bind_is_listed() { rootfs_mounts | grep -qxF "$BIND"; }
check "rootfs_mounts lists a bind mount below a rootfs that is no mount point itself" bind_is_listed

rebuild_refused() {
    local output
    if output=$( (ensure_rootfs) 2>&1 ); then echo "  ensure_rootfs went through: $output"; return 1; fi
    echo "  ensure_rootfs said: $output"
    [[ "$output" == *"refusing to rebuild $ROOTFS: still mounted: $BIND"* ]]
}
check "ensure_rootfs refuses to rebuild a rootfs with a mount inside" rebuild_refused

nothing_deleted() { [ -f "$CHECKOUT/precious" ] && [ -f "$ROOTFS/.wakeup-coach-rootfs" ]; }
check "the refused rebuild deleted nothing, through the bind mount or beside it" nothing_deleted

[ "$failures" -eq 0 ]
