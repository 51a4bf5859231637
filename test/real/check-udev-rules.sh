#!/usr/bin/env bash
# Check a udev rules file with the real udev (systemd-udev 252 on Debian 12), offline.
#
# usage: check-udev-rules.sh RULES_FILE [EXPECT...]
#   EXPECT is NAME[>NEWNAME][@MAC]=TXQLEN, e.g.
#     enp5s0=10000 incusbr0=10000 wlan0=1000 eth9@52:54:00:12:34:56=10000 eth7>enp7s0=10000
#   NAME      device created in a throw-away network namespace (dummy, or veth when the
#             kernel has no dummy driver); an existing device (lo) is used as it is
#   >NEWNAME  a private .link file (Name=NEWNAME) makes udev rename NAME to NEWNAME while
#             it processes the add event, as netplan's set-name does: exercises NAME=="..."
#   @MAC      the device gets this MAC address (for ATTR{address}=="..." rules)
#
# What it proves:
#   (a) udev parses the file without a diagnostic: every line udev logs that names the
#       file, other than "Reading rules file", is a failure (udev 252 prints e.g.
#       "FILE:3 Invalid key/value pair, ignoring."); plus two checks for mistakes udev 252
#       passes over in silence (lint: ...);
#   (b) for each EXPECT, `udevadm test --action=add` runs every rule for the device (on
#       systemd 252 this really writes ATTR{} values and really renames), then
#       /sys/class/net/<name>/tx_queue_len is compared with the expected value.
#
# Everything happens in private mount + network namespaces (unshare -m -n): a sysfs of
# that netns, a tmpfs over /run (hides the host's /run/udev, /run/systemd/network), an
# empty /etc/udev/rules.d holding only RULES_FILE and an empty /etc/systemd/network
# (only the rename .link files). So udev sees the distribution's rules and .link files
# in /usr/lib plus ours, nothing of the host's admin config. The namespaces vanish when
# the process exits: nothing to clean up, safe to run in parallel, no host device or
# host udev is touched (uevents of a child netns do not reach the host's udevd).
#
# The file is installed as $RULES_NAME if set, else under its own name if that looks
# like NN-*.rules, else as 81-born-tuned-txqueuelen.rules.
#
# Output: one line per EXPECT, "ok NAME tx_queue_len=N" or "FAIL NAME wanted W got G";
# udev diagnostics as "FAIL udev: ..."; lint findings as "FAIL lint: ...".
# Exit: 0 all good, 1 any failure, 2 usage error, 77 cannot run here (not root,
# namespaces or tools unavailable).
set -euo pipefail

readonly DEFAULT_NAME=81-born-tuned-txqueuelen.rules
readonly SPEC_RE='^([A-Za-z0-9_.-]{1,15})(>([A-Za-z0-9_.-]{1,15}))?(@([0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}))?=([0-9]+)$'
prog=${0##*/}

usage() {
  echo "usage: $prog RULES_FILE [NAME[>NEWNAME][@MAC]=TXQLEN...]" >&2
  exit 2
}

# ---------------------------------------------------------------- inside the namespaces
inner() {
  local rules_name=$1
  shift
  local rules_path=/etc/udev/rules.d/$rules_name
  local stage=/run/btq-check
  local failed=0

  mount -t sysfs sysfs /sys            # shows this netns' devices in /sys/class/net
  mount -t tmpfs -o mode=0755 tmpfs /run
  mkdir -p "$stage/rules.d" "$stage/network" /run/udev
  cat <&3 >"$stage/rules.d/$rules_name"   # fd 3: RULES_FILE, opened before /run was hidden
  exec 3<&-
  mount --bind "$stage/rules.d" /etc/udev/rules.d
  if [[ -d /etc/systemd/network ]]; then
    mount --bind "$stage/network" /etc/systemd/network
  fi

  # Create the devices (all before the first udev run, like a coldplug).
  local -a names=() finals=() wants=()
  local spec i=0 name new mac want
  for spec in "$@"; do
    [[ $spec =~ $SPEC_RE ]]
    name=${BASH_REMATCH[1]} new=${BASH_REMATCH[3]} mac=${BASH_REMATCH[5]} want=${BASH_REMATCH[7]}
    if [[ ! -e /sys/class/net/$name ]]; then
      local -a addr=()
      [[ -n $mac ]] && addr=(address "$mac")
      ip link add "$name" "${addr[@]}" type dummy 2>/dev/null ||
        ip link add "$name" "${addr[@]}" type veth peer name "btqpeer$i"
    elif [[ -n $mac ]]; then
      ip link set dev "$name" address "$mac"
    fi
    if [[ -n $new ]]; then
      if [[ ! -d /etc/systemd/network ]]; then
        echo "$prog: /etc/systemd/network is missing, cannot test a rename" >&2
        return 77
      fi
      printf '[Match]\nOriginalName=%s\n\n[Link]\nName=%s\nMACAddressPolicy=none\n' \
        "$name" "$new" >"$stage/network/00-btq-rename-$i.link"
    fi
    names+=("$name${new:+>$new}") finals+=("${new:-$name}") wants+=("$want")
    i=$((i + 1))
  done

  # (a) Parse pass: an event udev does not act on (change on lo), full debug log.
  local log diag
  log=$(udevadm test --action=change /sys/class/net/lo 2>&1 >/dev/null) || true
  if ! grep -qxF "Reading rules file: $rules_path" <<<"$log"; then
    echo "FAIL udev: did not read $rules_path"
    failed=1
  fi
  # Parse diagnostics carry no device prefix ("FILE:N msg", "Failed to read rules file FILE").
  diag=$(grep -F -- "$rules_path" <<<"$log" |
    grep -vxF "Reading rules file: $rules_path" | grep -vE '^[^ /]+: ' || true)

  # (b) One add event per device, at log level info: every line naming the file is now a
  # warning or an error (e.g. "Failed to write ATTR{...}, ignoring: Invalid argument").
  local -a results=()
  local n out rc got
  for n in "${!names[@]}"; do
    rc=0
    out=$(SYSTEMD_LOG_LEVEL=info udevadm test --action=add "/sys/class/net/${names[n]%%>*}" 2>&1 >/dev/null) || rc=$?
    if ((rc != 0)); then
      diag+=$'\n'"udevadm test ${names[n]%%>*} exited $rc: $(tail -n 3 <<<"$out" | tr '\n' ' ')"
    fi
    diag+=$'\n'$(grep -F -- "$rules_path" <<<"$out" || true)
    got=$(cat "/sys/class/net/${finals[n]}/tx_queue_len" 2>/dev/null) || got="nothing (no device ${finals[n]})"
    if [[ $got == "${wants[n]}" ]]; then
      results+=("ok ${names[n]} tx_queue_len=$got")
    else
      results+=("FAIL ${names[n]} wanted ${wants[n]} got $got")
      failed=1
    fi
  done

  diag=$(grep -v '^$' <<<"$diag" | awk '!seen[$0]++' || true)
  if [[ -n $diag ]]; then
    sed 's/^/FAIL udev: /' <<<"$diag"
    failed=1
  fi
  ((${#results[@]} == 0)) || printf '%s\n' "${results[@]}"
  if ((failed)); then
    # Which of our lines fired, for the log (a second run only reads a device again).
    for n in "${!names[@]}"; do
      [[ ${results[n]} == FAIL* && ${names[n]} != *'>'* ]] || continue
      udevadm test --action=add "/sys/class/net/${names[n]}" 2>&1 >/dev/null |
        grep -F -- ": $rules_path:" | sed 's/^/  trace: /' || true
    done
  fi
  return "$failed"
}

if [[ ${_BTQ_CHECK_INNER:-} == 1 ]]; then
  unset _BTQ_CHECK_INNER
  inner "$@" # errexit stays on in it; its non-zero return ends the script with that code
  exit 0
fi

# ---------------------------------------------------------------- outside
(($# >= 1)) || usage
rules_file=$1
shift
for spec in "$@"; do
  [[ $spec =~ $SPEC_RE ]] || { echo "$prog: bad EXPECT '$spec'" >&2; usage; }
done
if [[ ! -f $rules_file || ! -r $rules_file ]]; then
  echo "$prog: cannot read $rules_file" >&2
  exit 2
fi
if [[ -n ${RULES_NAME:-} ]]; then
  rules_name=$RULES_NAME
elif [[ ${rules_file##*/} =~ ^[0-9][0-9]-.+\.rules$ ]]; then
  rules_name=${rules_file##*/}
else
  rules_name=$DEFAULT_NAME
fi
if [[ $rules_name != *.rules || $rules_name == */* ]]; then
  echo "$prog: RULES_NAME must be a file name ending in .rules (udev ignores others)" >&2
  exit 2
fi
if ((EUID != 0)); then
  echo "$prog: needs root (namespaces, sysfs mount)" >&2
  exit 77
fi
for tool in udevadm unshare ip mount; do
  command -v "$tool" >/dev/null || { echo "$prog: $tool not found" >&2; exit 77; }
done
if [[ ! -d /etc/udev/rules.d ]]; then
  echo "$prog: /etc/udev/rules.d is missing" >&2
  exit 77
fi
if ! unshare -m -n --propagation private true 2>/dev/null; then
  echo "$prog: cannot create mount/network namespaces here" >&2
  exit 77
fi

failed=0
# lint: what udev 252 accepts without a word.
#  - a last line ending in "\" (continuation at end of file): udev drops that rule silently;
#  - two key/value pairs without a comma between them: accepted, but not the documented syntax.
lint=$(awk -v f="$rules_file" '
  { line[NR] = $0 }
  !/^[[:space:]]*#/ && match($0, /"[[:space:]]+[A-Z][A-Z_]*(\{[^}]*\})?[[:space:]]*(==|!=|\+=|-=|:=|=)/) {
    key = substr($0, RSTART + 1, RLENGTH - 1); sub(/^[[:space:]]+/, "", key)
    printf "%s:%d no comma before %s (udev 252 accepts it without a word)\n", f, NR, key
  }
  END {
    n = NR; while (n > 0 && line[n] ~ /^[[:space:]]*$/) n--
    if (n > 0 && line[n] ~ /\\$/) printf "%s:%d ends in a line continuation: udev drops this rule silently\n", f, n
  }' "$rules_file")
if [[ -n $lint ]]; then
  sed 's/^/FAIL lint: /' <<<"$lint"
  failed=1
fi

rc=0
_BTQ_CHECK_INNER=1 unshare -m -n --propagation private -- \
  bash "${BASH_SOURCE[0]}" "$rules_name" "$@" 3<"$rules_file" || rc=$?
if ((rc == 77 || rc == 2)); then
  exit "$rc"
fi
((rc == 0 && failed == 0)) || exit 1
