#!/usr/bin/env bash
# The whole test suite, as `npm test` runs it: installs the real validators when missing (Debian 12,
# root), type-checks, builds the CLI, runs every uvu suite (real-tool checks included) and ends with
# one plain line "N passed, N failed" for CI. Exits non-zero on any failure or when no test ran.
set -uo pipefail
cd "$(dirname "$0")/.."

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

step "type check (tsc --noEmit)" npx --no-install tsc --noEmit
step "build (dist/gen.js)" node scripts/build.mjs

log=$(mktemp)
trap 'rm -f "$log"' EXIT
FORCE_COLOR=0 node --import tsx node_modules/uvu/bin.js test '\.test\.ts$' 2>&1 | tee "$log"
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
finish
