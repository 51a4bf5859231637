#!/usr/bin/env bash
# packer-image.sh CACHE_DIR TREE NAME MANAGER
#
# The Packer variant of the e2e guest (issue 14, item 7): a real `packer build` of the stack's
# generated template, with Debian's packer (1.6.6, qemu builder), offline, under TCG:
#   - the base image is this cache's own disk.img (build-image.sh), given as a file:// URL with its
#     real sha256 as base_image_checksum;
#   - the build runs through the tree's own packer/build.sh, so the per-build password it draws and
#     the seed it writes with it are what the build VM gets (its cidata CD, Packer's cd_files);
#   - the image has no bootloader (a whole-disk ext4), so the build VM boots its kernel directly:
#     the template's qemu_extra_args get -kernel/-initrd (this cache's vmlinuz and initrd.img),
#     -append (root=/dev/vda, the console on ttyS0, the other manager's units masked as boot.sh
#     masks them) and -serial to a file (build-serial.log);
#   - one addition to a copy of the tree's seed stands in for the package's postinst, which starts
#     the daemon when the package is installed: the e2e image has the packages preinstalled, so
#     without it no daemon would ever run in the build VM and the image would have no identity to
#     leak. The seed's runcmd starts MANAGER's daemon and waits for it.
# Packer's output, qcow2, becomes CACHE_DIR/packer/NAME/disk.qcow2. The build must show that the
# daemon's certificate existed before 90-cleanup.sh removed it (90-cleanup.sh prints
# "90-cleanup: removes /var/lib/MANAGER/server.crt (sha256 ...)"): a build without that line fails,
# so the identity proof of boot.sh cannot pass vacuously. That line is kept in
# CACHE_DIR/packer/NAME/removed-identity.txt.
#
# Cached per NAME by a recipe hash: the base image's recipe hash, every file of TREE/packer, the
# packer version and this file's build function; a matching hash skips the build. Writes
# CACHE_DIR/packer/NAME/{disk.qcow2,recipe.sha256,packer.log,build-serial.log,removed-identity.txt}.
# Needs root, packer, qemu-system-x86_64, xorriso (Packer makes the cidata CD with it).
set -euo pipefail

prog=packer-image
fail() {
	echo "$prog: ERROR: $*" >&2
	exit 1
}
log() { echo "$prog: $*" >&2; }

[[ $# -eq 4 ]] || {
	echo "usage: $0 CACHE_DIR TREE NAME MANAGER" >&2
	exit 2
}
cache=$(cd "$1" && pwd)
tree=$(cd "$2" && pwd)
name=$3
manager=$4
case $manager in
lxd) mask=(incus.service incus.socket incus-startup.service incus-user.service incus-user.socket) ;;
incus) mask=(lxd.service lxd.socket lxd-containers.service) ;;
*) fail "MANAGER must be lxd or incus, not '$manager'" ;;
esac
command -v packer >/dev/null || fail "packer not found (Debian: apt-get install packer)"
for f in disk.img vmlinuz initrd.img recipe.sha256; do [[ -f $cache/$f ]] || fail "no $cache/$f: run build-image.sh first"; done
[[ -x $tree/packer/build.sh ]] || fail "no $tree/packer/build.sh"

out=$cache/packer/$name
mkdir -p "$out"

recipe_hash=$(
	{
		cat "$cache/recipe.sha256"
		echo "manager=$manager"
		packer version
		(cd "$tree" && find packer -type f | LC_ALL=C sort | xargs sha256sum)
		sed -n '/^build()/,/^}/p' "$0"
	} | sha256sum | cut -d' ' -f1
)

if [[ -f $out/recipe.sha256 && $(cat "$out/recipe.sha256") == "$recipe_hash" && -f $out/disk.qcow2 ]]; then
	log "$name: Packer image cached ($recipe_hash)"
	exit 0
fi

work=$(mktemp -d "$cache/packer/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# build WORK: the tree's packer/ copied to WORK/packer, its seed given the daemon start, the
# variables written, and the tree's build.sh run. Leaves WORK/output/NAME.qcow2.
build() {
	local w=$1 sum template
	cp -r "$tree/packer" "$w/packer"
	# Stands in for the package's postinst (see the top of this file): the daemon starts and makes
	# its TLS identity, as it would have when the package was installed in the build VM.
	cat >>"$w/packer/seed/user-data" <<-EOF
		# Added by test/e2e/packer-image.sh: stands in for the $manager package's postinst, which
		# starts the daemon when the package is installed (the e2e image has it preinstalled).
		runcmd:
		  - [systemctl, start, $manager.service]
		  - [sh, -c, 'ls -l /var/lib/$manager/server.crt >/dev/console']
	EOF
	sum=$(sha256sum "$cache/disk.img" | cut -d' ' -f1)
	template=$(cd "$w/packer" && ls -- *.pkr.hcl)
	cat >"$w/e2e.pkrvars.hcl" <<-EOF
		base_image_url      = "file://$cache/disk.img"
		base_image_checksum = "sha256:$sum"
		accelerator         = "tcg"
		output_directory    = "$w/output"
		vm_name             = "$name.qcow2"
		qemu_extra_args = [
		  ["-kernel", "$cache/vmlinuz"],
		  ["-initrd", "$cache/initrd.img"],
		  ["-append", "root=/dev/vda rw console=ttyS0${mask[*]/#/ systemd.mask=}"],
		  ["-serial", "file:$w/build-serial.log"],
		]
	EOF
	echo "--- packer build $template (sha256 of the base image $sum)"
	PACKER_CACHE_DIR=$w/packer_cache PACKER_LOG=1 PACKER_LOG_PATH=$w/packer-debug.log CHECKPOINT_DISABLE=1 \
		"$w/packer/build.sh" -color=false -var-file="$w/e2e.pkrvars.hcl" </dev/null
}

started=$SECONDS
log "$name: packer build (qemu TCG; several minutes)"
rc=0
build "$work" >"$out/packer.log" 2>&1 || rc=$?
cp "$work/build-serial.log" "$out/build-serial.log" 2>/dev/null || true
cp "$work/packer-debug.log" "$out/packer-debug.log" 2>/dev/null || true
((rc == 0)) || fail "$name: packer build failed (exit $rc); see $out/packer.log, packer-debug.log, build-serial.log: $(tail -n5 "$out/packer.log")"
grep -o "90-cleanup: removes /var/lib/$manager/server.crt (sha256 [0-9a-f]\{64\})" "$out/packer.log" >"$out/removed-identity.txt" ||
	fail "$name: the build VM had no /var/lib/$manager/server.crt when 90-cleanup.sh ran (no 'removes' line in $out/packer.log): the identity proof would be vacuous"
grep -o '90-cleanup: removes /etc/[^ ]* (sha256 [0-9a-f]\{64\})' "$out/packer.log" >>"$out/removed-identity.txt" || true
[[ -f $work/output/$name.qcow2 ]] || fail "$name: Packer wrote no $work/output/$name.qcow2"
rm -f "$out/recipe.sha256"
mv "$work/output/$name.qcow2" "$out/disk.qcow2"
echo "$recipe_hash" >"$out/recipe.sha256"
log "$name: Packer image ready in $((SECONDS - started)) s: $out/disk.qcow2 ($recipe_hash)"
