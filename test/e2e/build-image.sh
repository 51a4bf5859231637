#!/usr/bin/env bash
# build-image.sh CACHE_DIR RELEASE
#
# Builds (and caches) the Debian RELEASE (12 or 13) guest that test/e2e/boot.sh boots under qemu:
#   CACHE_DIR/disk.img   ext4 root filesystem image (no partition table: root=/dev/vda)
#   CACHE_DIR/vmlinuz    kernel of the image, for qemu -kernel
#   CACHE_DIR/initrd.img its initramfs, for qemu -initrd
#   CACHE_DIR/recipe.sha256  hash of everything that decides the image's content
# boot.sh gives each release its own CACHE_DIR (E2E_CACHE/debian-12, E2E_CACHE/debian-13).
#
# Two cached stages, each skipped when its recipe hash matches:
#   1. rootfs (mmdebstrap, ~2-4 min): the package set and the guest configuration below;
#   2. disk.img (~20 s): stage 1 + the files in test/e2e/guest/ (report script and unit)
#      + this machine's node binary, packed with `mke2fs -d` (no loop mount needed).
#
# Both container managers are in the one image, from the release's own packages: Debian 12's lxd
# 5.0.2 and incus-base/incus-client 6.0.4 from bookworm-backports; Debian 13's lxd 5.0.2 and
# incus-base/incus-client 6.0.4 from trixie main. Neither release has a package conflict between
# them. Their units stay enabled as the packages leave them; boot.sh masks the manager a stack does
# not use on the kernel command line (systemd.mask=), so each boot looks like a host with one
# manager already present.
#
# Needs root and a Debian 12 machine (mmdebstrap builds either release there). Installs mmdebstrap,
# qemu-system-x86, qemu-utils, xorriso, e2fsprogs with apt when missing. The package mirror can be
# changed with E2E_MIRROR (default http://deb.debian.org/debian). Exit status 0 when the image is
# ready (built or cached).
set -euo pipefail

prog=build-image
here=$(cd "$(dirname "$0")" && pwd)

fail() {
	echo "$prog: ERROR: $*" >&2
	exit 1
}
log() { echo "$prog: $*" >&2; }

[[ $# -eq 2 ]] || {
	echo "usage: $0 CACHE_DIR RELEASE" >&2
	exit 2
}
[[ $EUID -eq 0 ]] || fail "must run as root (mmdebstrap root mode, mke2fs -d of a root-owned tree)"

cache=$1
release=$2
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)

mirror=${E2E_MIRROR:-http://deb.debian.org/debian}
security=${E2E_SECURITY_MIRROR:-http://deb.debian.org/debian-security}
disk_size=4G

# --- host tools ---------------------------------------------------------------------------------
# One apt at a time: boot.sh builds the two releases' images side by side, and a second apt-get
# would fail on apt's own lock instead of waiting for it.
exec {apt_lock}>/var/lock/born-tuned-e2e-host-tools.lock
flock "$apt_lock"
need=()
command -v mmdebstrap >/dev/null || need+=(mmdebstrap)
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
command -v qemu-img >/dev/null || need+=(qemu-utils)
command -v xorriso >/dev/null || command -v genisoimage >/dev/null || need+=(xorriso)
command -v mke2fs >/dev/null || need+=(e2fsprogs)
if ((${#need[@]} > 0)); then
	log "installing ${need[*]}"
	apt-get update -qq >/dev/null || fail "apt-get update failed"
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null ||
		fail "apt-get install ${need[*]} failed"
fi
exec {apt_lock}>&-

# --- recipe -------------------------------------------------------------------------------------
# The package set. Recommends are not installed (mmdebstrap's default), so everything the guest
# needs is named: dbus (hostnamectl for cloud-init's set_hostname), sudo (cloud-init's default
# user), e2fsprogs (resize2fs for cc_resizefs), locales (cc_locale), openssh-server (cc_ssh),
# libstdc++6 (the copied node binary), apparmor (as on a standard Debian host), and the storage
# drivers' tools (the guest has no network: first boot's storage step must find them installed).
packages=(
	linux-image-amd64 systemd-sysv udev dbus cloud-init netplan.io iproute2 procps e2fsprogs
	locales openssh-server kmod sudo ca-certificates libstdc++6 apparmor
	lxd nftables dnsmasq-base busybox-static
	btrfs-progs lvm2 thin-provisioning-tools
)
# Per release: the suite, its apt sources, and where Incus comes from.
case $release in
12)
	suite=bookworm
	sources=("deb $mirror bookworm main" "deb $mirror bookworm-updates main"
		"deb $security bookworm-security main" "deb $mirror bookworm-backports main")
	backports_packages=(incus-base incus-client)
	;;
13)
	suite=trixie
	sources=("deb $mirror trixie main" "deb $mirror trixie-updates main" "deb $security trixie-security main")
	packages+=(incus-base incus-client)
	backports_packages=()
	;;
*) fail "RELEASE must be 12 or 13, not '$release'" ;;
esac

# Everything below that shapes the rootfs goes into the stage-1 hash: the package lists, the
# mirrors, and the text of the customize function itself.
customize_rootfs() {
	local root=$1
	# cloud-init: NoCloud seed only (no ds= on the kernel command line: a real host runs its
	# modules after networking), ed25519 host keys only (RSA keygen is slow under TCG).
	cat >"$root/etc/cloud/cloud.cfg.d/90-e2e.cfg" <<-'EOF'
		# born-tuned e2e guest (test/e2e/build-image.sh)
		datasource_list: [NoCloud, None]
		ssh_genkeytypes: [ed25519]
	EOF
	# One generated locale, already the system default, so cc_locale has nothing to do.
	echo 'en_US.UTF-8 UTF-8' >"$root/etc/locale.gen"
	chroot "$root" locale-gen >/dev/null
	echo 'LANG=en_US.UTF-8' >"$root/etc/default/locale"
	echo '/dev/vda / ext4 errors=remount-ro 0 1' >"$root/etc/fstab"
	echo 'born-tuned-e2e' >"$root/etc/hostname"
	printf '127.0.0.1 localhost\n::1 localhost ip6-localhost ip6-loopback\n' >"$root/etc/hosts"
	# Host keys generated in the chroot would be replaced by cloud-init anyway.
	rm -f "$root"/etc/ssh/ssh_host_*
	# A clean first boot: no machine-id, no cloud-init state, no apt lists.
	: >"$root/etc/machine-id"
	rm -f "$root/var/lib/dbus/machine-id"
	rm -rf "$root/var/lib/cloud" "$root"/var/lib/apt/lists/* "$root"/var/cache/apt/*.bin
	rm -rf "$root"/var/cache/apt/archives/*.deb
}

stage1_hash=$(
	{
		echo "suite=$suite sources=${sources[*]}"
		echo "packages=${packages[*]}"
		echo "backports=${backports_packages[*]}"
		declare -f customize_rootfs
		sed -n '/^run_mmdebstrap()/,/^}/p' "$0"
	} | sha256sum | cut -d' ' -f1
)

run_mmdebstrap() {
	local out=$1
	local list hooks=()
	list=$(
		IFS=,
		echo "${packages[*]}"
	)
	if ((${#backports_packages[@]} > 0)); then
		hooks+=(--customize-hook='chroot "$1" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q -t '"$suite-backports ${backports_packages[*]}")
	fi
	mmdebstrap --mode=root --variant=minbase --format=directory \
		--components=main \
		--include="$list" \
		"${hooks[@]}" \
		"$suite" "$out" "${sources[@]}"
}

rootfs=$cache/rootfs
if [[ -f $cache/rootfs.sha256 && $(cat "$cache/rootfs.sha256") == "$stage1_hash" && -d $rootfs ]]; then
	log "rootfs cached ($stage1_hash)"
else
	log "building rootfs with mmdebstrap (2-4 min)"
	rm -rf "$rootfs" "$cache/rootfs.sha256" "$cache/recipe.sha256"
	started=$SECONDS
	run_mmdebstrap "$rootfs" >"$cache/mmdebstrap.log" 2>&1 ||
		fail "mmdebstrap failed; see $cache/mmdebstrap.log"
	customize_rootfs "$rootfs"
	for p in "${packages[@]}" ${backports_packages[@]+"${backports_packages[@]}"}; do
		chroot "$rootfs" dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null | grep -qx installed ||
			fail "package $p is not installed in the rootfs"
	done
	chroot "$rootfs" dpkg-query -W -f='${Package} ${Version}\n' >"$cache/packages.txt"
	echo "$stage1_hash" >"$cache/rootfs.sha256"
	log "rootfs built in $((SECONDS - started)) s"
fi

# --- stage 2: guest files, node, disk image ----------------------------------------------------
node_bin=$(readlink -f "$(command -v node)") || fail "node not found on this machine"
guest=$here/guest
guest_files=(report.mjs born-tuned-e2e-report born-tuned-e2e-report.service)
for f in "${guest_files[@]}"; do [[ -f $guest/$f ]] || fail "missing $guest/$f"; done

recipe_hash=$(
	{
		echo "$stage1_hash"
		echo "size=$disk_size"
		sha256sum "$node_bin" | cut -d' ' -f1
		for f in "${guest_files[@]}"; do sha256sum "$guest/$f"; done | sed "s#$guest/##"
		sed -n '/^install_guest_files()/,/^}/p' "$0"
	} | sha256sum | cut -d' ' -f1
)

install_guest_files() {
	local root=$1
	install -D -m 0755 "$node_bin" "$root/usr/local/bin/node"
	install -D -m 0644 "$guest/report.mjs" "$root/usr/local/lib/born-tuned-e2e/report.mjs"
	install -D -m 0755 "$guest/born-tuned-e2e-report" "$root/usr/local/sbin/born-tuned-e2e-report"
	install -D -m 0644 "$guest/born-tuned-e2e-report.service" \
		"$root/etc/systemd/system/born-tuned-e2e-report.service"
	mkdir -p "$root/etc/systemd/system/multi-user.target.wants"
	ln -sfn ../born-tuned-e2e-report.service \
		"$root/etc/systemd/system/multi-user.target.wants/born-tuned-e2e-report.service"
}

if [[ -f $cache/recipe.sha256 && $(cat "$cache/recipe.sha256") == "$recipe_hash" &&
	-f $cache/disk.img && -f $cache/vmlinuz && -f $cache/initrd.img ]]; then
	log "image cached: $cache/disk.img ($recipe_hash)"
	exit 0
fi

rm -f "$cache/recipe.sha256"
install_guest_files "$rootfs"
# The rootfs must run the copied node (glibc/libstdc++ only).
chroot "$rootfs" /usr/local/bin/node -e 'process.exit(0)' ||
	fail "the copied node binary does not run inside the rootfs"

kernel=$(find "$rootfs/boot" -maxdepth 1 -name 'vmlinuz-*' | sort -V | tail -n1)
initrd=$(find "$rootfs/boot" -maxdepth 1 -name 'initrd.img-*' | sort -V | tail -n1)
[[ -n $kernel && -n $initrd ]] || fail "no kernel/initrd in $rootfs/boot"
cp "$kernel" "$cache/vmlinuz.tmp"
cp "$initrd" "$cache/initrd.img.tmp"

log "packing $cache/disk.img ($disk_size, mke2fs -d)"
rm -f "$cache/disk.img.tmp"
mke2fs -q -F -t ext4 -L born-tuned-e2e -d "$rootfs" "$cache/disk.img.tmp" "$disk_size" >/dev/null ||
	fail "mke2fs -d failed"
mv "$cache/disk.img.tmp" "$cache/disk.img"
mv "$cache/vmlinuz.tmp" "$cache/vmlinuz"
mv "$cache/initrd.img.tmp" "$cache/initrd.img"
echo "$recipe_hash" >"$cache/recipe.sha256"
log "image ready: $cache/disk.img ($recipe_hash)"
