#!/usr/bin/env bash
# bake-image.sh CACHE_DIR TREE NAME
#
# The baked-image variant of the e2e guest (issue 7): what `packer build` of a stack would make,
# without Packer and without a network. Runs the stack's Packer provisioner scripts from TREE (a
# `gen --out` tree) against the shared base rootfs of test/e2e/build-image.sh, then packs the
# result like the base image:
#   ROOT=<rootfs> TREE/packer/scripts/10-files.sh          every host file, byte for byte, with its mode
#   ROOT=<rootfs> TREE/packer/scripts/20-install-manager.sh   install: present: only checks the client
#   ROOT=<rootfs> TREE/packer/scripts/90-cleanup.sh        apt-get clean, empty machine-id,
#                                                          `cloud-init clean --logs` (through chroot)
#   mke2fs -d <rootfs> CACHE_DIR/baked/NAME/disk.img
# boot.sh then boots it with the stack's slim TREE/packer/user-data as the seed's user-data; the
# kernel and initrd are the base image's (CACHE_DIR/vmlinuz, initrd.img).
#
# The base rootfs (CACHE_DIR/rootfs, as build-image.sh left it: packages + guest files + node) is
# shared and never written: the scripts run on an overlayfs mount over it (a full copy with
# `cp -a` when overlayfs cannot be mounted). Cached per NAME by a recipe hash: the base image's
# recipe hash, the three scripts' contents and this file's bake function; a matching hash skips
# the bake. Writes CACHE_DIR/baked/NAME/{disk.img,recipe.sha256,bake.log}. Needs root.
set -euo pipefail

prog=bake-image
fail() {
	echo "$prog: ERROR: $*" >&2
	exit 1
}
log() { echo "$prog: $*" >&2; }

[[ $# -eq 3 ]] || {
	echo "usage: $0 CACHE_DIR TREE NAME" >&2
	exit 2
}
[[ $EUID -eq 0 ]] || fail "must run as root (overlay mount, chroot, mke2fs -d of a root-owned tree)"
cache=$(cd "$1" && pwd)
tree=$(cd "$2" && pwd)
name=$3
scripts=(10-files.sh 20-install-manager.sh 90-cleanup.sh)
disk_size=4G

rootfs=$cache/rootfs
[[ -d $rootfs && -f $cache/recipe.sha256 ]] || fail "no base image in $cache: run build-image.sh first"
for s in "${scripts[@]}"; do [[ -f $tree/packer/scripts/$s ]] || fail "missing $tree/packer/scripts/$s"; done

out=$cache/baked/$name
mkdir -p "$out"

recipe_hash=$(
	{
		cat "$cache/recipe.sha256"
		echo "size=$disk_size"
		for s in "${scripts[@]}"; do sha256sum "$tree/packer/scripts/$s"; done | sed "s#$tree/##"
		sed -n '/^bake()/,/^}/p' "$0"
	} | sha256sum | cut -d' ' -f1
)

if [[ -f $out/recipe.sha256 && $(cat "$out/recipe.sha256") == "$recipe_hash" && -f $out/disk.img ]]; then
	log "$name: baked image cached ($recipe_hash)"
	exit 0
fi

work=$(mktemp -d "$cache/baked/.work.XXXXXX")
merged=$work/merged
mounted=0
cleanup() {
	if ((mounted)); then umount "$merged" 2>/dev/null || umount -l "$merged" 2>/dev/null || true; fi
	rm -rf "$work"
}
trap cleanup EXIT

# bake ROOT: the provisioner scripts as Packer would run them (as root, in order), then checks that
# they did what they say. Traces of an earlier boot are planted first so that 90-cleanup.sh's
# `cloud-init clean --logs` has something to remove: its effect is checked, not assumed.
bake() {
	local root=$1 s
	mkdir -p "$root/var/lib/cloud/instance" "$root/var/log"
	echo "planted by bake-image.sh" >"$root/var/lib/cloud/instance/planted"
	echo "planted by bake-image.sh" >"$root/var/log/cloud-init.log"
	echo "planted by bake-image.sh" >"$root/var/log/cloud-init-output.log"
	echo "0123456789abcdef0123456789abcdef" >"$root/etc/machine-id"
	for s in "${scripts[@]}"; do
		echo "--- ROOT=$root bash $s"
		ROOT=$root bash "$tree/packer/scripts/$s" || {
			echo "$s failed with exit $?"
			return 1
		}
	done
	echo "--- checks"
	[[ ! -e $root/var/lib/cloud/instance && ! -e $root/var/lib/cloud/instance/planted ]] ||
		{ echo "cloud-init clean left /var/lib/cloud/instance"; return 1; }
	[[ ! -e $root/var/log/cloud-init.log && ! -e $root/var/log/cloud-init-output.log ]] ||
		{ echo "cloud-init clean --logs left /var/log/cloud-init*.log"; return 1; }
	[[ -f $root/etc/machine-id && ! -s $root/etc/machine-id ]] ||
		{ echo "/etc/machine-id is not empty"; return 1; }
	[[ -x $root/usr/local/sbin/born-tuned-sysctl-apply && -f $root/etc/born-tuned/sysctl.wanted ]] ||
		{ echo "10-files.sh did not install the host files"; return 1; }
	# Each host computes its own at first boot: a baked one would be applied before that.
	[[ ! -e $root/etc/sysctl.d/60-born-tuned.conf ]] ||
		{ echo "the image carries /etc/sysctl.d/60-born-tuned.conf"; return 1; }
	echo "ok"
}

if mkdir -p "$work/upper" "$work/work" "$merged" &&
	mount -t overlay overlay -o "lowerdir=$rootfs,upperdir=$work/upper,workdir=$work/work" "$merged" 2>/dev/null; then
	mounted=1
	log "$name: baking on an overlay over the shared rootfs"
else
	log "$name: overlayfs not available: baking on a copy of the rootfs"
	rm -rf "$merged"
	cp -a --reflink=auto "$rootfs" "$merged"
fi

started=$SECONDS
bake "$merged" >"$out/bake.log" 2>&1 || fail "$name: baking failed; see $out/bake.log: $(tail -n3 "$out/bake.log")"
rm -f "$out/recipe.sha256" "$out/disk.img.tmp"
mke2fs -q -F -t ext4 -L born-tuned-e2e -d "$merged" "$out/disk.img.tmp" "$disk_size" >/dev/null ||
	fail "$name: mke2fs -d failed"
mv "$out/disk.img.tmp" "$out/disk.img"
echo "$recipe_hash" >"$out/recipe.sha256"
log "$name: baked image ready in $((SECONDS - started)) s: $out/disk.img ($recipe_hash)"
