#!/usr/bin/env bash
# boot.sh [STACK...]
#
# Offline end-to-end proof that the generated user-data really tunes a booted Debian 12 host, on the
# first boot and after a reboot. For each STACK (profiles joined with "+", default: the four below):
#   1. node dist/gen.js --profiles-dir test/e2e/profiles --profile A --profile B ... > user-data
#   2. a NoCloud seed ISO (label cidata: user-data, meta-data with a unique instance-id)
#   3. a qcow2 overlay on the cached base image (test/e2e/build-image.sh)
#   4. boot 1 under qemu TCG (-m 2048 -smp 2, user networking with restrict=on, serial console to a
#      file); the guest's report unit prints a JSON report between markers on ttyS0 and powers off
#   5. boot 2: the same overlay and the same seed (same instance-id: a reboot, not a new instance)
#   6. test/e2e/compare.mjs judges each report against the user-data (compare.selftest.mjs first
#      checks, on recorded reports in test/e2e/fixtures/, that it fails what it should)
# Prints a table stack x boot x checks, names every failing check, and exits 1 on any failure
# (cloud-init not `done`, any cloud-init error or warning included), 2 on a harness error.
#
# The manager a stack does not use is masked on the kernel command line (systemd.mask=), so the
# guest looks like a host with only that manager present, enabled as its package leaves it.
#
# Environment:
#   E2E_CACHE         image cache (default /var/tmp/born-tuned-e2e)
#   E2E_OUT           where runs go (default: a new /var/tmp/born-tuned-e2e-run.XXXXXX); runs that
#                     failed keep their serial logs, reports, user-data there
#   E2E_BOOT_TIMEOUT  seconds before a boot is killed (default 900)
# Needs root (image build), Debian 12, node. Takes ~2 min per boot under TCG.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
cache=${E2E_CACHE:-/var/tmp/born-tuned-e2e}
boot_timeout=${E2E_BOOT_TIMEOUT:-900}

stacks=("$@")
if ((${#stacks[@]} == 0)); then
	stacks=(
		lxd-small+preinstalled
		incus-dense+preinstalled
		lxd-small+10gbe+preinstalled
		incus-dense+10gbe+preinstalled
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
# The judge first: recorded reports must pass and each broken copy must fail the right check.
if [[ -d $here/fixtures ]]; then
	node "$here/compare.selftest.mjs" >&2 || die "compare.mjs fails its negative controls (test/e2e/compare.selftest.mjs)"
else
	say "WARNING: no recorded reports in test/e2e/fixtures: compare.mjs negative controls skipped"
fi
bash "$here/build-image.sh" "$cache" || die "image build failed"
for f in disk.img vmlinuz initrd.img; do [[ -f $cache/$f ]] || die "missing $cache/$f"; done

if [[ -n ${E2E_OUT:-} ]]; then
	out=$E2E_OUT
	mkdir -p "$out"
else
	out=$(mktemp -d /var/tmp/born-tuned-e2e-run.XXXXXX)
fi
out=$(cd "$out" && pwd)
say "runs in $out"

mkiso() { # DIR ISO
	if command -v xorriso >/dev/null; then
		xorriso -as genisoimage -quiet -output "$2" -volid cidata -joliet -rock \
			"$1/user-data" "$1/meta-data" 2>/dev/null
	else
		genisoimage -quiet -output "$2" -volid cidata -joliet -rock "$1/user-data" "$1/meta-data"
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

rows=()
failures=0
harness_errors=0

for stack in "${stacks[@]}"; do
	dir=$out/$stack
	rm -rf "$dir"
	mkdir -p "$dir/seed"
	IFS=+ read -r -a profiles <<<"$stack"
	args=(--profiles-dir "$here/profiles")
	for p in "${profiles[@]}"; do args+=(--profile "$p"); done
	if ! node dist/gen.js "${args[@]}" >"$dir/seed/user-data" 2>"$dir/gen.stderr"; then
		say "$stack: gen failed: $(cat "$dir/gen.stderr")"
		rows+=("$stack|-|-|0|1|gen failed (see $dir/gen.stderr)")
		failures=$((failures + 1))
		continue
	fi
	manager=$(grep -oE '/etc/systemd/system/(lxd|incus)\.service\.d/' "$dir/seed/user-data" | head -n1 |
		sed -E 's#.*/(lxd|incus)\.service\.d/#\1#' || true)
	if [[ -z $manager ]]; then
		manager=$(grep -qE '\[ *incus,' "$dir/seed/user-data" && echo incus || echo lxd)
	fi
	case $manager in
	lxd) mask=(incus.service incus.socket incus-startup.service incus-user.service incus-user.socket) ;;
	incus) mask=(lxd.service lxd.socket lxd-containers.service) ;;
	esac
	iid="born-tuned-e2e-${stack//+/-}-$(date +%s)-$RANDOM"
	printf 'instance-id: %s\nlocal-hostname: bt-e2e\n' "$iid" >"$dir/seed/meta-data"
	mkiso "$dir/seed" "$dir/seed.iso" || die "$stack: seed ISO failed"
	qemu-img create -q -f qcow2 -F raw -b "$cache/disk.img" "$dir/disk.qcow2" || die "$stack: overlay failed"

	append="root=/dev/vda rw console=ttyS0 born_tuned_e2e.report=1 born_tuned_e2e.manager=$manager"
	for u in "${mask[@]}"; do append+=" systemd.mask=$u"; done

	stack_failed=0
	for boot in 1 2; do
		log=$dir/serial-$boot.log
		started=$SECONDS
		say "$stack: boot $boot ($manager, instance-id $iid)"
		rc=0
		timeout --kill-after=10 "$boot_timeout" qemu-system-x86_64 \
			-accel tcg -m 2048 -smp 2 \
			-nodefaults -display none -monitor none -no-reboot \
			-serial "file:$log" \
			-kernel "$cache/vmlinuz" -initrd "$cache/initrd.img" -append "$append" \
			-drive "file=$dir/disk.qcow2,if=virtio,format=qcow2" \
			-drive "file=$dir/seed.iso,if=virtio,format=raw,readonly=on" \
			-nic user,restrict=on,model=virtio-net-pci \
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
		elif report_from_disk "$dir/disk.qcow2" "$boot" "$json"; then
			got=disk
			say "$stack: boot $boot: serial copy of the report unreadable, read it from the disk"
		fi
		if [[ $got == no ]]; then
			detail="no report (qemu rc $rc)"
			grep -q 'BORN-TUNED-E2E-REPORT FAILED' "$log" 2>/dev/null && detail="report script failed (see serial log)"
			rows+=("$stack|$boot|${secs}s|0|1|$detail")
			stack_failed=1
			harness_errors=$((harness_errors + 1))
			continue
		fi
		cmp_rc=0
		node "$here/compare.mjs" "$dir/seed/user-data" "$json" >"$dir/compare-$boot.json" 2>"$dir/compare-$boot.err" || cmp_rc=$?
		if ((cmp_rc == 2)); then
			rows+=("$stack|$boot|${secs}s|0|1|compare.mjs crashed: $(head -n1 "$dir/compare-$boot.err")")
			stack_failed=1
			harness_errors=$((harness_errors + 1))
			continue
		fi
		# compare.mjs judges the user-data's promises; the harness adds what only it knows: both boots
		# are the seeded instance, boot 2 is a real reboot that did not re-run the per-instance runcmd.
		summary=$(node -e '
			const fs = require("fs");
			const [cmpPath, jsonPath, firstPath, iid, boot] = process.argv.slice(1);
			const r = JSON.parse(fs.readFileSync(cmpPath, "utf8"));
			const rep = JSON.parse(fs.readFileSync(jsonPath, "utf8"));
			const add = (check, ok, detail) => r.checks.push({ check, ok, detail });
			add("harness: instance-id is the seed'"'"'s", rep.cloud_init?.instance_id === iid, `${rep.cloud_init?.instance_id}`);
			if (boot === "1") {
				add("harness: runcmd ran on boot 1", rep.cloud_init?.scripts_user === "ran", rep.cloud_init?.scripts_user);
			} else {
				add("harness: runcmd not re-run on boot 2", rep.cloud_init?.scripts_user === "already ran", rep.cloud_init?.scripts_user);
				const first = fs.existsSync(firstPath) ? JSON.parse(fs.readFileSync(firstPath, "utf8")) : null;
				add("harness: boot 2 is a new boot", !!first && first.boot_id !== rep.boot_id, `${first?.boot_id} -> ${rep.boot_id}`);
			}
			fs.writeFileSync(cmpPath, JSON.stringify(r, null, 1) + "\n");
			const bad = r.checks.filter((c) => !c.ok);
			process.stdout.write(`${r.checks.length - bad.length}|${bad.length}|${bad.map((c) => c.check).join(", ")}`);
		' "$dir/compare-$boot.json" "$json" "$dir/report-1.json" "$iid" "$boot")
		[[ $(cut -d'|' -f2 <<<"$summary") == 0 ]] || cmp_rc=1
		rows+=("$stack|$boot|${secs}s|$summary")
		((cmp_rc == 0)) || stack_failed=1
		say "$stack: boot $boot: $(cut -d'|' -f1 <<<"$summary") passed, $(cut -d'|' -f2 <<<"$summary") failed in ${secs}s"
	done
	# Keep user-data, reports and compare output of every run; serial logs only of failed ones.
	rm -f "$dir/disk.qcow2" "$dir/disk.raw" "$dir/seed.iso"
	if ((stack_failed)); then
		failures=$((failures + 1))
	else
		rm -f "$dir"/serial-*.log "$dir"/qemu-*.log
	fi
done

echo
printf '%-40s %-4s %5s %6s %6s  %s\n' STACK BOOT TIME PASSED FAILED "FAILING CHECKS"
for r in "${rows[@]}"; do
	IFS='|' read -r s b t p f rest <<<"$r"
	printf '%-40s %-4s %5s %6s %6s  %s\n' "$s" "$b" "$t" "$p" "$f" "${rest:--}"
done
echo
echo "total time $((SECONDS - t0)) s; reports in $out"
if ((failures > 0)); then
	echo "FAILED: $failures of ${#stacks[@]} stacks; serial logs of the failed runs are in $out/<stack>/"
	((harness_errors > 0)) && exit 2
	exit 1
fi
echo "OK: ${#stacks[@]} stacks, 2 boots each, every check passed"
