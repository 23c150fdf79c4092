#!/usr/bin/env bash
# scripts/lib/envs.sh unmounts the root filesystem that a subshell mounted (a pipeline
# such as `in_env latest pytest | grep`, or `$(in_env latest ...)`), though a subshell
# runs none of the script's EXIT traps. Real mounts, so it needs root (as in CI);
# skipped otherwise. Like test_rootfs_guard.sh, it runs in a mount namespace of its own,
# with a stand-in root filesystem, and a trap unmounts whatever is left.
set -uo pipefail
if [ "${1:-}" != --in-namespace ]; then
    if [ "$(id -u)" != 0 ]; then echo "skipped: mounts need root"; exit 0; fi
    exec unshare --mount --propagation private bash "$0" --in-namespace
fi
source "$(dirname "$0")/../scripts/lib/envs.sh"

TMP=$(mktemp -d)
on_exit '[ -z "$(mounts_under "$TMP")" ] && rm -rf --one-file-system "$TMP"'
CACHE="$TMP/cache"
ROOTFS="$TMP/rootfs"
REPO="$TMP/checkout"
LATEST_KIND=chroot
mkdir -p "$ROOTFS/proc" "$ROOTFS/dev" "$ROOTFS/sys" "$ROOTFS/etc/ssl/certs" "$REPO"
on_exit 'for target in "$ROOTFS$REPO" "$ROOTFS/sys" "$ROOTFS/dev" "$ROOTFS/proc"; do
    mountpoint -q "$target" && umount -R -l "$target"; done'

mounted_inside=$(enter_env latest; mounts_under "$ROOTFS" | wc -l)
left=$(mounts_under "$ROOTFS")
if [ "$mounted_inside" -gt 0 ] && [ -z "$left" ]; then
    echo "ok: a subshell's $mounted_inside mounts are gone when it ends"
else
    echo "FAILED: the subshell mounted $mounted_inside, and left: ${left//$'\n'/, }"
    exit 1
fi
