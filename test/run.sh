#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it: installs the real validators when missing (Debian 12,
# root), type-checks, builds the CLI, runs every uvu suite (real-tool checks included) and ends with
# one plain line "N passed, N failed" for CI. Exits non-zero on any failure or when no test ran.
# BORN_TUNED_FAST=1 (npm run test:fast) leaves out the suites marked `// tier: full` (README,
# Development); BORN_TUNED_E2E=0 the VM boots.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

passed=0
failed=0
finish() {
	echo "$passed passed, $failed failed"
	if ((failed > 0 || passed == 0)); then exit 1; fi
	exit 0
}

step() { # name, command...: a check that counts as one test
	local name=$1
	shift
	if "$@"; then
		passed=$((passed + 1))
	else
		echo "FAIL: $name" >&2
		failed=$((failed + 1))
	fi
}

if ! bash test/real/install-debian-tools.sh; then
	echo "FAIL: the real validators (cloud-init, netplan, udev, shellcheck, packer, yamllint, lxd, incus) could not be installed; the suite needs them and does not skip." >&2
	failed=$((failed + 1))
	finish
fi

# The type check and the build read the same sources and nothing of each other's: side by side
# they take the time of the type check alone (~20 s on 2 cores, the build ~10 s).
log=$(mktemp)
tsc_log=$(mktemp)
trap 'rm -f "$log" "$tsc_log"' EXIT
npx --no-install tsc --noEmit >"$tsc_log" 2>&1 &
tsc_pid=$!
step "build (dist/gen.js)" node scripts/build.mjs
wait "$tsc_pid"
tsc_status=$?
cat "$tsc_log"
step "type check (tsc --noEmit)" test "$tsc_status" = 0
# The sources are in the formatter's shape (.prettierrc.json; `npm run format` fixes them).
step "format (prettier --check)" npx --no-install prettier --check --log-level warn .

tier=()
if [[ ${BORN_TUNED_FAST:-0} == 1 ]]; then tier=(--fast); fi
node test/run-suites.mjs "${tier[@]}" 2>&1 | tee "$log"
uvu_status=${PIPESTATUS[0]}
clean=$(sed 's/\x1b\[[0-9;]*m//g' "$log")
total=$(sed -n 's/^ *Total: *\([0-9]*\).*/\1/p' <<<"$clean" | tail -n1)
ok=$(sed -n 's/^ *Passed: *\([0-9]*\).*/\1/p' <<<"$clean" | tail -n1)
if [[ -z $total || -z $ok ]]; then
	echo "FAIL: uvu ended without a summary (exit $uvu_status): a suite crashed while loading" >&2
	failed=$((failed + 1))
else
	passed=$((passed + ok))
	failed=$((failed + total - ok))
	if ((uvu_status != 0 && total == ok)); then failed=$((failed + 1)); fi
fi

# End-to-end: every default stack (plain, baked and Packer image; Debian 12 and 13) booted twice
# under qemu, judged by `gen verify` inside the guest (test/e2e/README.md; ~40 min on 2 cores
# without KVM from an empty image cache, images included). Each stack x boot row counts as one
# test. A harness error (exit 2, or no final "e2e: N passed, N failed" line) counts as one failed
# test. BORN_TUNED_E2E=0 skips it (npm run test:fast).
if [[ ${BORN_TUNED_E2E:-1} != 0 ]]; then
	e2e_log=$(mktemp)
	trap 'rm -f "$log" "$tsc_log" "$e2e_log"' EXIT
	bash test/e2e/boot.sh 2>&1 | tee "$e2e_log"
	e2e_status=${PIPESTATUS[0]}
	e2e_line=$(grep -E '^e2e: [0-9]+ passed, [0-9]+ failed$' "$e2e_log" | tail -n1)
	if [[ -n $e2e_line ]]; then
		read -r e2e_passed e2e_failed < <(sed -E 's/^e2e: ([0-9]+) passed, ([0-9]+) failed$/\1 \2/' <<<"$e2e_line")
		passed=$((passed + e2e_passed))
		failed=$((failed + e2e_failed))
	fi
	if [[ -z $e2e_line ]] || ((e2e_status == 2)); then
		echo "FAIL: e2e harness error (test/e2e/boot.sh exit $e2e_status$([[ -n $e2e_line ]] || echo ', no e2e: line'))" >&2
		failed=$((failed + 1))
	elif ((e2e_status != 0 && e2e_failed == 0)); then
		echo "FAIL: test/e2e/boot.sh exited $e2e_status with no failed row" >&2
		failed=$((failed + 1))
	fi
fi
finish
