#!/usr/bin/env bash
# boot.sh [STACK...]
#
# Offline end-to-end proof that the generated user-data really tunes a booted Debian 12 or 13 host,
# on the first boot and after a reboot, judged by the product's own `gen verify` run inside the
# guest. A STACK is profiles joined with "+"; "baked:STACK" boots the baked-image variant instead
# (issue 7); "packer:STACK" boots the image a real `packer build` of the stack's template makes
# (packer-image.sh; issue 14 item 7) as host A (boots 1 and 2) and as host B (a second host of the
# same image: first boot only, a light report), then proves A and B have their own identity
# (row "id": compare.mjs --identity; item 6). The stack's target release (gen explain) picks the base image: E2E_CACHE/debian-12 or
# E2E_CACHE/debian-13, each built once by build-image.sh. Default: the eight stacks listed below,
# one per (release, manager, fresh/baked). For each STACK:
#   1. node dist/gen.js --profiles-dir test/e2e/profiles --profile A --profile B ... --out TREE
#   2. plain: the cached base image (build-image.sh), seed user-data = TREE/user-data;
#      baked: the base rootfs with TREE/packer/scripts/{10-files,20-install-manager,90-cleanup}.sh
#      run against it (bake-image.sh, cached per stack), seed user-data = TREE/packer/user-data;
#      packer: `packer build` of TREE/packer through its build.sh on the base image
#      (packer-image.sh, cached per stack, qcow2), seed user-data = TREE/packer/user-data
#   3. a NoCloud seed ISO (label cidata): user-data, meta-data with a unique instance-id, and
#      born-tuned/ = the CLI under test (package.json, dist/gen.js, profiles/, templates/),
#      e2e-profiles/ (test/e2e/profiles) and stack (the profiles, one per line). The CLI is on the
#      seed, not in the image, so a code change never rebuilds the image.
#   4. a qcow2 overlay on the image and a blank sparse pool disk, attached third (after the seed,
#      which the guest may look for as /dev/vdb) with serial bt-pool, so the guest has
#      /dev/disk/by-id/virtio-bt-pool (test/e2e/profiles/pool-disk.yaml names it); boot 1 under
#      qemu TCG (-m 16384 -smp 1: memory-scaled kernel defaults such as tcp_mem exceed what
#      profiles once pinned, and pages are only allocated when touched; user networking with
#      restrict=on, serial console to a file); the guest's report unit prints `cloud-init status
#      --long`, mounts the seed read-only, runs `gen verify --format json` for the stack, and prints
#      a JSON report (verify's output included) between markers on ttyS0, then powers off
#   5. boot 2: the same overlay, pool disk and seed (same instance-id: a reboot, not a new instance)
#   6. test/e2e/compare.mjs judges each report: every verify row PASS (or ABSENT only where the
#      kernel has no such path), cloud-init done without errors or warnings, no failed unit, PAM
#      sessions, and what boot.sh seeded: instance-id, runcmd once, new boot_id, verify ran for
#      this stack; and a pool on a device is the wanted driver on the pool disk (compareStorage).
#      (compare.selftest.mjs first checks, on recorded reports in test/e2e/fixtures/, that it fails
#      what it should.)
# Prints a table stack x boot (verify rows passed, checks passed/failed, failing checks), then one
# last line exactly "e2e: N passed, N failed" (N counts stack x boot rows). Exit 0 when every row
# passed, 1 when one failed, 2 on a harness error before any boot (no "e2e:" line then).
#
# The manager a stack does not use is masked on the kernel command line (systemd.mask=), so the
# guest looks like a host with only that manager present, enabled as its package leaves it.
#
# Environment:
#   E2E_CACHE         image cache (default /var/tmp/born-tuned-e2e)
#   E2E_OUT           where runs go (default: a new /var/tmp/born-tuned-e2e-run.XXXXXX); every run
#                     keeps its tree, reports and compare output there, failed runs also their
#                     serial and qemu logs
#   E2E_BOOT_TIMEOUT  seconds before a boot is killed (default 900)
#   E2E_JOBS          stacks booted side by side (default 2; 1 boots one after the other)
#   E2E_SMP           virtual CPUs per guest (default 1: two guests of 2 vCPUs fight over 2 cores)
# Needs root (image build), Debian 12, node. About 3-5 min per boot under TCG (2 cores, no KVM).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${E2E_CACHE:-/var/tmp/born-tuned-e2e}
boot_timeout=${E2E_BOOT_TIMEOUT:-900}
smp=${E2E_SMP:-1}

stacks=("$@")
if ((${#stacks[@]} == 0)); then
	# Every (release, manager, fresh/baked) pair once, not the cross product: the shipped profiles
	# target Debian 13; the debian-12 overlay puts a stack on Debian 12. 10gbe rides on half of them
	# and the pinned tcp_mem (never lower at boot) on both baked Incus stacks, one per kernel; the
	# fresh Incus stack on Debian 13 has its uplink as an active-backup bond of two NICs (bonded).
	# incus-dense's btrfs pool goes on the guest's pool disk (pool-disk); pool-lvm makes it an LVM
	# thin pool on one Debian 12 stack.
	# Longest first (the Packer stack builds an image and boots three times, a baked stack bakes
	# first), so the two job slots end close together.
	stacks=(
		packer:incus-dense+10gbe+preinstalled+pinned-tcp-mem+pool-disk
		baked:incus-dense+10gbe+debian-12+preinstalled+pinned-tcp-mem+pool-disk
		baked:lxd-small+10gbe+preinstalled
		baked:lxd-small+debian-12+preinstalled
		incus-dense+10gbe+preinstalled+bonded+pool-disk
		incus-dense+debian-12+preinstalled+pool-disk+pool-lvm
		lxd-small+preinstalled
		lxd-small+10gbe+debian-12+preinstalled
	)
fi

say() { echo "e2e: $*" >&2; }
die() {
	echo "e2e: ERROR: $*" >&2
	exit 2
}

t0=$SECONDS
cd "$repo"
node scripts/build.mjs >/dev/null || die "build (node scripts/build.mjs) failed"

if [[ -n ${E2E_OUT:-} ]]; then
	out=$E2E_OUT
	mkdir -p "$out"
else
	out=$(mktemp -d /var/tmp/born-tuned-e2e-run.XXXXXX)
fi
out=$(cd "$out" && pwd)
say "runs in $out"

# The CLI under test, copied once: others may rebuild dist/ while this runs. It is what gen runs on
# the host and what goes on every seed. A package root: package.json, dist/gen.js, profiles/,
# templates/ (dist/gen.js finds the rest relative to itself).
cli=$out/cli
rm -rf "$cli"
mkdir -p "$cli/dist"
cp package.json "$cli/"
cp dist/gen.js "$cli/dist/"
cp -r profiles templates "$cli/"

# The judge first: recorded reports must pass and each broken copy must fail the right check.
if [[ -d $here/fixtures ]]; then
	node "$here/compare.selftest.mjs" >&2 || die "compare.mjs fails its negative controls (test/e2e/compare.selftest.mjs)"
else
	say "WARNING: no recorded reports in test/e2e/fixtures: compare.mjs negative controls skipped"
fi
# ensure_image RELEASE: builds (or finds cached) the Debian RELEASE base image. Run through
# with_lock, which shellcheck cannot follow.
# shellcheck disable=SC2317
ensure_image() {
	local release=$1 f
	bash "$here/build-image.sh" "$cache/debian-$release" "$release" || die "Debian $release image build failed"
	for f in disk.img vmlinuz initrd.img; do [[ -f $cache/debian-$release/$f ]] || die "missing $cache/debian-$release/$f"; done
}

mkiso() { # DIR ISO: every file of DIR, DIR as the ISO's root
	if command -v xorriso >/dev/null; then
		xorriso -as genisoimage -quiet -output "$2" -volid cidata -rock "$1" 2>/dev/null
	else
		genisoimage -quiet -output "$2" -volid cidata -rock "$1"
	fi
}

# extract_report SERIAL_LOG JSON: the last report between the markers, checked against its sha256.
extract_report() {
	local log=$1 json=$2 sum
	sum=$(tr -d '\r' <"$log" | sed -n 's/^=== BORN-TUNED-E2E-REPORT BEGIN \([0-9a-f]\{64\}\) ===$/\1/p' | tail -n1)
	[[ -n $sum ]] || return 1
	tr -d '\r' <"$log" |
		awk -v s="$sum" '$0 == "=== BORN-TUNED-E2E-REPORT BEGIN " s " ===" { on = 1; buf = ""; next }
			on && /^=== BORN-TUNED-E2E-REPORT END ===$/ { on = 0; out = buf; next }
			on { buf = buf $0 "\n" }
			END { printf "%s", out }' | base64 -d >"$json" 2>/dev/null || return 1
	[[ $(sha256sum <"$json" | cut -c1-64) == "$sum" ]]
}

# report_from_disk OVERLAY N JSON: fallback when the serial copy is garbled by console output:
# read /var/log/born-tuned-e2e/report-N.json from the guest's disk (no mount needed).
report_from_disk() {
	local disk=$1 n=$2 json=$3 raw
	raw=$(dirname "$disk")/disk.raw
	qemu-img convert -O raw "$disk" "$raw" || return 1
	debugfs -R "cat /var/log/born-tuned-e2e/report-$n.json" "$raw" >"$json" 2>/dev/null
	rm -f "$raw"
	node -e 'JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"))' "$json" 2>/dev/null
}

# uplink_nics DIR: sets nics, qemu's NIC arguments for the stack in DIR. A stack with a netplan file
# (network/60-born-tuned.yaml: host addressing, bonds, VLANs) gets it as the seed's network-config,
# and one virtio NIC per MAC it matches, each with that MAC on its own user network (restrict=on);
# every other stack keeps the one NIC it always had.
uplink_nics() {
	local netplan=$1/tree/network/60-born-tuned.yaml i
	local -a macs=()
	nics=(-nic "user,restrict=on,model=virtio-net-pci")
	[[ -f $netplan ]] || return 0
	cp "$netplan" "$1/seed/network-config"
	mapfile -t macs < <(sed -n 's/^ *macaddress: "\{0,1\}\([0-9a-f:]\{17\}\)"\{0,1\}$/\1/p' "$netplan")
	((${#macs[@]} > 0)) || return 0
	nics=()
	for i in "${!macs[@]}"; do
		nics+=(-netdev "user,id=uplink$i,restrict=on" -device "virtio-net-pci,netdev=uplink$i,mac=${macs[i]}")
	done
}

# with_lock NAME COMMAND...: runs COMMAND holding the run's lock NAME. Stacks run side by side and
# share the cache: a release's base image is built under its own lock (a second stack of the release
# then finds it cached, and it is never repacked under a running guest), a bake or a Packer build
# under the lock of its cache entry. Different resources build side by side (the Debian 12 image
# beside the Packer build).
with_lock() {
	local fd rc=0 name=${1//[^A-Za-z0-9._+-]/_}
	shift
	exec {fd}>"$out/.lock-$name"
	flock "$fd"
	"$@" || rc=$?
	exec {fd}>&-
	return "$rc"
}

row() { # STACK BOOT DEBIAN TIME VERIFY PASSED FAILED DETAIL: one row of the table, in the stack's rows file
	printf '%s\n' "$1|$2|$3|$4|$5|$6|$7|$8" >>"$dir/rows"
}

# run_stack STACK: everything of one stack, in a subshell of its own (stacks run side by side, see
# E2E_JOBS): its rows go to $out/STACK/rows, read back in the stacks' order for the table.
run_stack() {
	local stack=$1
	variant=plain
	profiles_spec=$stack
	if [[ $stack == baked:* ]]; then
		variant=baked
		profiles_spec=${stack#baked:}
	elif [[ $stack == packer:* ]]; then
		variant=packer
		profiles_spec=${stack#packer:}
	fi
	dir=$out/${stack//:/-}
	rm -rf "$dir"
	mkdir -p "$dir/seed/born-tuned"
	IFS=+ read -r -a profiles <<<"$profiles_spec"
	args=(--profiles-dir "$here/profiles")
	for p in "${profiles[@]}"; do args+=(--profile "$p"); done
	if ! node "$cli/dist/gen.js" "${args[@]}" --out "$dir/tree" >"$dir/gen.stdout" 2>"$dir/gen.stderr"; then
		say "$stack: gen failed: $(cat "$dir/gen.stderr")"
		row "$stack" 1 - - - 0 1 "gen failed (see $dir/gen.stderr)"
		row "$stack" 2 - - - 0 1 "gen failed (see $dir/gen.stderr)"
		return
	fi
	# The stack's target release (explain's first row, "Debian 13" or "Debian 13 (not boot-proven)")
	# picks the base image.
	release=$(node "$cli/dist/gen.js" explain "${args[@]}" --format json 2>/dev/null | node -e '
		const e = JSON.parse(require("fs").readFileSync(0, "utf8"));
		const m = /^Debian (\d+)/.exec(e.settings.find((s) => s.id === "target")?.value ?? "");
		process.stdout.write(m ? m[1] : "");
	') || true
	if [[ $release != 12 && $release != 13 ]]; then
		row "$stack" 1 - - - 0 1 "the stack's target is not Debian 12 or 13 (gen explain)"
		row "$stack" 2 - - - 0 1 "the stack's target is not Debian 12 or 13"
		return
	fi
	with_lock "image-$release" ensure_image "$release"
	rcache=$cache/debian-$release
	if [[ -f $dir/tree/preseed/incus.yaml ]]; then manager=incus; else manager=lxd; fi
	case $manager in
	lxd) mask=(incus.service incus.socket incus-startup.service incus-user.service incus-user.socket) ;;
	incus) mask=(lxd.service lxd.socket lxd-containers.service) ;;
	esac

	if [[ $variant == baked ]]; then
		image=$rcache/baked/$profiles_spec/disk.img
		if ! with_lock "bake-$release-$profiles_spec" bash "$here/bake-image.sh" "$rcache" "$dir/tree" "$profiles_spec" 2>"$dir/bake.stderr"; then
			cat "$dir/bake.stderr" >&2
			cp "$rcache/baked/$profiles_spec/bake.log" "$dir/" 2>/dev/null || true
			row "$stack" 1 "$release" - - 0 1 "baking the image failed (see $dir/bake.stderr, bake.log)"
			row "$stack" 2 "$release" - - 0 1 "baking the image failed"
			return
		fi
		cat "$dir/bake.stderr" >&2
		cp "$dir/tree/packer/user-data" "$dir/seed/user-data"
		image_format=raw
	elif [[ $variant == packer ]]; then
		image=$rcache/packer/$profiles_spec/disk.qcow2
		if ! with_lock "packer-$release-$profiles_spec" bash "$here/packer-image.sh" "$rcache" "$dir/tree" "$profiles_spec" "$manager" 2>"$dir/packer.stderr"; then
			cat "$dir/packer.stderr" >&2
			cp "$rcache/packer/$profiles_spec"/{packer.log,build-serial.log} "$dir/" 2>/dev/null || true
			for b in 1 2 B id; do
				row "$stack" "$b" "$release" - - 0 1 "packer build failed (see $dir/packer.stderr, packer.log, build-serial.log)"
			done
			return
		fi
		cat "$dir/packer.stderr" >&2
		cp "$rcache/packer/$profiles_spec"/{packer.log,removed-identity.txt} "$dir/"
		cp "$dir/tree/packer/user-data" "$dir/seed/user-data"
		image_format=qcow2
	else
		image=$rcache/disk.img
		cp "$dir/tree/user-data" "$dir/seed/user-data"
		image_format=raw
	fi
	iid="born-tuned-e2e-${variant}-${profiles_spec//+/-}-$(date +%s)-$RANDOM"
	printf 'instance-id: %s\nlocal-hostname: bt-e2e\n' "$iid" >"$dir/seed/meta-data"
	cp -r "$cli/." "$dir/seed/born-tuned/"
	cp -r "$here/profiles" "$dir/seed/born-tuned/e2e-profiles"
	printf '%s\n' "${profiles[@]}" >"$dir/seed/born-tuned/stack"
	uplink_nics "$dir"
	mkiso "$dir/seed" "$dir/seed.iso" || die "$stack: seed ISO failed"
	qemu-img create -q -f qcow2 -F "$image_format" -b "$image" "$dir/disk.qcow2" || die "$stack: overlay failed"
	# A blank pool disk per stack, kept from boot 1 to boot 2 (sparse: only what the pool writes).
	# qemu creates a -device before the if=virtio drives, so it gets a PCI slot past theirs
	# (addr=0x10): the guest probes it last, /dev/vdc, and root stays /dev/vda.
	qemu-img create -q -f raw "$dir/pool.img" 8G || die "$stack: pool disk failed"

	append="root=/dev/vda rw console=ttyS0 born_tuned_e2e.report=1 born_tuned_e2e.manager=$manager"
	for u in "${mask[@]}"; do append+=" systemd.mask=$u"; done

	stack_failed=0
	boots=(1 2)
	# A Packer image also boots a second host, VM B (boot "B"): a fresh overlay of the same image,
	# its own pool disk and instance-id, first boot only, with a light report (born-tuned/light on
	# its seed: no drift, no container). The identity proof ("id") then holds VM A's boot 1 and VM
	# B apart (compare.mjs --identity).
	[[ $variant == packer ]] && boots+=(B)
	for boot in "${boots[@]}"; do
		disk=$dir/disk.qcow2
		pool=$dir/pool.img
		seed_iso=$dir/seed.iso
		boot_iid=$iid
		n=$boot # the guest's own count of reports on its disk (report_from_disk)
		if [[ $boot == B ]]; then
			boot_iid=$iid-b
			n=1
			printf 'instance-id: %s\nlocal-hostname: bt-e2e-b\n' "$boot_iid" >"$dir/seed/meta-data"
			echo "VM B of the identity proof: no drift, no container" >"$dir/seed/born-tuned/light"
			disk=$dir/disk-b.qcow2
			pool=$dir/pool-b.img
			seed_iso=$dir/seed-b.iso
			mkiso "$dir/seed" "$seed_iso" || die "$stack: VM B's seed ISO failed"
			qemu-img create -q -f qcow2 -F "$image_format" -b "$image" "$disk" || die "$stack: VM B's overlay failed"
			qemu-img create -q -f raw "$pool" 8G || die "$stack: VM B's pool disk failed"
		fi
		log=$dir/serial-$boot.log
		started=$SECONDS
		say "$stack: boot $boot (Debian $release, $variant image, $manager, instance-id $boot_iid)"
		rc=0
		timeout --kill-after=10 "$boot_timeout" qemu-system-x86_64 \
			-accel tcg -m 16384 -smp "$smp" \
			-nodefaults -display none -monitor none -no-reboot \
			-serial "file:$log" \
			-kernel "$rcache/vmlinuz" -initrd "$rcache/initrd.img" -append "$append" \
			-drive "file=$disk,if=virtio,format=qcow2" \
			-drive "file=$seed_iso,if=virtio,format=raw,readonly=on" \
			-drive "file=$pool,if=none,id=pool,format=raw" \
			-device virtio-blk-pci,drive=pool,serial=bt-pool,addr=0x10 \
			"${nics[@]}" \
			>"$dir/qemu-$boot.log" 2>&1 || rc=$?
		secs=$((SECONDS - started))
		json=$dir/report-$boot.json
		if ((rc == 124 || rc == 137)); then
			say "$stack: boot $boot timed out after ${boot_timeout} s"
		elif ((rc != 0)); then
			say "$stack: boot $boot: qemu exited $rc: $(tail -n3 "$dir/qemu-$boot.log")"
		fi
		got=no
		if extract_report "$log" "$json"; then
			got=serial
		elif report_from_disk "$disk" "$n" "$json"; then
			got=disk
			say "$stack: boot $boot: serial copy of the report unreadable, read it from the disk"
		fi
		if [[ $got == no ]]; then
			detail="no report (qemu rc $rc)"
			grep -q 'BORN-TUNED-E2E-REPORT FAILED' "$log" 2>/dev/null && detail="report script failed (see serial log)"
			row "$stack" "$boot" "$release" "${secs}s" - 0 1 "$detail"
			stack_failed=1
			continue
		fi
		# The guest's own `cloud-init status --long`, as the report step printed it.
		node -e 'process.stdout.write(JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).cloud_init?.status_long ?? "")' \
			"$json" >"$dir/cloud-init-status-$boot.txt" 2>/dev/null || true
		cmp_rc=0
		node "$here/compare.mjs" "$dir/tree" "$json" "$boot_iid" "$profiles_spec" "$boot" "$dir/report-1.json" \
			>"$dir/compare-$boot.json" 2>"$dir/compare-$boot.err" || cmp_rc=$?
		if ((cmp_rc == 2)); then
			row "$stack" "$boot" "$release" "${secs}s" - 0 1 "compare.mjs crashed: $(head -n1 "$dir/compare-$boot.err")"
			stack_failed=1
			continue
		fi
		summary=$(node -e '
			const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
			const v = r.verify;
			const vs = `${v.pass}/${v.total}` + (v.absent ? ` (${v.absent} absent)` : "");
			process.stdout.write(`${vs}|${r.passed}|${r.failed}|${r.checks.filter((c) => !c.ok).map((c) => c.check).join(", ")}`);
		' "$dir/compare-$boot.json")
		IFS='|' read -r vs np nf failing <<<"$summary"
		row "$stack" "$boot" "$release" "${secs}s" "$vs" "$np" "$nf" "$failing"
		((nf == 0)) || stack_failed=1
		say "$stack: boot $boot: verify $vs, $np checks passed, $nf failed in ${secs}s"
	done
	if [[ $variant == packer ]]; then
		# The identity proof: VM A's first boot against VM B, and both against the build VM's
		# certificate (the line 90-cleanup.sh printed when it removed it).
		if [[ -f $dir/report-1.json && -f $dir/report-B.json ]]; then
			cmp_rc=0
			node "$here/compare.mjs" --identity "$dir/report-1.json" "$dir/report-B.json" "$dir/removed-identity.txt" \
				>"$dir/compare-id.json" 2>"$dir/compare-id.err" || cmp_rc=$?
			if ((cmp_rc == 2)); then
				row "$stack" id "$release" - - 0 1 "compare.mjs --identity crashed: $(head -n1 "$dir/compare-id.err")"
				stack_failed=1
			else
				summary=$(node -e '
					const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
					process.stdout.write(`${r.passed}|${r.failed}|${r.checks.filter((c) => !c.ok).map((c) => c.check).join(", ")}`);
				' "$dir/compare-id.json")
				IFS='|' read -r np nf failing <<<"$summary"
				row "$stack" id "$release" - - "$np" "$nf" "$failing"
				((nf == 0)) || stack_failed=1
				say "$stack: identity A vs B: $np checks passed, $nf failed"
				node -e '
					for (const c of JSON.parse(require("fs").readFileSync(process.argv[1], "utf8")).checks) console.error(`e2e:   ${c.ok ? "ok  " : "FAIL"} ${c.check}: ${c.detail}`);
				' "$dir/compare-id.json"
			fi
		else
			row "$stack" id "$release" - - 0 1 "no report of VM A's boot 1 or of VM B"
			stack_failed=1
		fi
	fi
	# Keep tree, user-data, reports and compare output of every run; serial logs only of failed ones.
	rm -f "$dir/disk.qcow2" "$dir/disk-b.qcow2" "$dir/disk.raw" "$dir/seed.iso" "$dir/seed-b.iso" "$dir/pool.img" "$dir/pool-b.img"
	rm -rf "$dir/seed/born-tuned"
	((stack_failed)) || rm -f "$dir"/serial-*.log "$dir"/qemu-*.log
}

# E2E_JOBS stacks at a time (default 2): a TCG guest keeps the 2 cores only about 60 % busy (it
# waits on its own timers, DHCP and the network checks), so two side by side finish the matrix in
# well under the time of one after the other.
jobs_max=${E2E_JOBS:-2}
[[ $jobs_max =~ ^[1-9][0-9]*$ ]] || die "E2E_JOBS must be a positive integer, not \"$jobs_max\""
[[ $smp =~ ^[1-9][0-9]*$ ]] || die "E2E_SMP must be a positive integer, not \"$smp\""
for stack in "${stacks[@]}"; do
	while (($(jobs -rp | wc -l) >= jobs_max)); do wait -n || true; done
	{
		rc=0
		(run_stack "$stack") || rc=$?
		echo "$rc" >"$out/.exit-${stack//:/-}"
	} &
done
wait

rows=() # STACK|BOOT|DEBIAN|TIME|VERIFY|PASSED|FAILED|FAILING CHECKS, in the stacks' order
rows_passed=0
rows_failed=0
for stack in "${stacks[@]}"; do
	name=${stack//:/-}
	lines=()
	[[ -f $out/$name/rows ]] && mapfile -t lines <"$out/$name/rows"
	rc=$(cat "$out/.exit-$name" 2>/dev/null || echo "none")
	# A stack whose runner stopped on a harness error (die) gets a failing row besides what it had.
	[[ $rc == 0 ]] || lines+=("$stack|-|-|-|-|0|1|harness error: the stack's runner exited $rc (see above)")
	for r in "${lines[@]}"; do
		rows+=("$r")
		IFS='|' read -r _ _ _ _ _ _ f _ <<<"$r"
		if [[ $f == 0 ]]; then rows_passed=$((rows_passed + 1)); else rows_failed=$((rows_failed + 1)); fi
	done
done

echo
printf '%-50s %-4s %-6s %5s %-18s %6s %6s  %s\n' STACK BOOT DEBIAN TIME "VERIFY PASS/ROWS" PASSED FAILED "FAILING CHECKS"
for r in "${rows[@]}"; do
	IFS='|' read -r s b d t v p f rest <<<"$r"
	printf '%-50s %-4s %-6s %5s %-18s %6s %6s  %s\n' "$s" "$b" "$d" "$t" "$v" "$p" "$f" "${rest:--}"
done
echo
echo "total time $((SECONDS - t0)) s; runs in $out"
((rows_failed == 0)) || echo "serial logs of the failed runs are in $out/<stack>/"
echo "e2e: $rows_passed passed, $rows_failed failed"
((rows_failed == 0)) || exit 1
exit 0
