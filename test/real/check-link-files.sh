#!/usr/bin/env bash
# Validate systemd .link files and .link drop-ins with systemd's own parser (udev 252), offline.
#
# usage: check-link-files.sh DIR
#   Every *.link file and every *.link.d/*.conf drop-in found under DIR (at any depth) is
#   copied, flattened, into a private /etc/systemd/network; then
#   `udevadm test-builtin net_setup_link /sys/class/net/lo` loads all .link files the way
#   udev does (lo itself matches none, so nothing is applied). systemd 252 has no
#   `udevadm verify` (that is 253+), so this is how to get its parser's verdict.
#
#   Any line udev logs that names one of the files, other than "Parsed configuration
#   file", is a failure (e.g. "...:4: Unknown key 'TransmitQueLength' in section [Link],
#   ignoring."). A .link file udev did not report as parsed is a failure too.
#   A drop-in is only read when its .link file exists: when DIR does not have it and
#   /usr/lib/systemd/network does not ship it (e.g. netplan's 10-netplan-<id>.link, made
#   at boot under /run), a stub .link that matches nothing stands in for it.
#
# Runs in private mount + network namespaces (unshare -m -n) with a fresh sysfs and a
# tmpfs over /run: the host's network config and devices are neither read nor touched;
# the only thing outside is a mktemp -d staging directory, removed on exit; runs can be
# parallel.
# Output: "ok FILE" per file, or "FAIL FILE: <udev's line>". Exit: 0 clean, 1 failure,
# 2 usage error, 77 cannot run here.
set -euo pipefail

prog=${0##*/}
readonly NETDIR=/etc/systemd/network
readonly STUB=$'# stub written by check-link-files.sh so that the drop-ins are read\n[Match]\nOriginalName=btq-stub-none\n'

usage() {
  echo "usage: $prog DIR" >&2
  exit 2
}

# ---------------------------------------------------------------- inside the namespaces
# args: STAGE_DIR, then pairs of STAGED_NAME ORIGINAL_PATH.
inner() {
  local stage=$1
  shift
  mount -t sysfs sysfs /sys
  mount --bind "$stage" "$NETDIR" # before /run is hidden: STAGE_DIR may be under /run
  mount -t tmpfs -o mode=0755 tmpfs /run
  stage=$NETDIR

  local -A orig=()
  local -a stubs=() paths=()
  while (($#)); do
    orig[$NETDIR/$1]=$2
    shift 2
  done
  # Stubs for drop-ins whose .link file is nowhere to be found.
  local d base
  for d in "$stage"/*.link.d; do
    [[ -d $d ]] || continue
    base=${d##*/}
    base=${base%.d}
    if [[ ! -e $stage/$base && ! -e /usr/lib/systemd/network/$base && ! -e /lib/systemd/network/$base ]]; then
      printf '%s' "$STUB" >"$stage/$base"
      stubs+=("$base")
    fi
  done

  local log line path failed=0
  log=$(udevadm test-builtin net_setup_link /sys/class/net/lo 2>&1) || {
    echo "FAIL udevadm test-builtin exited non-zero:"
    printf '%s\n' "$log"
    return 1
  }
  local -A bad=() parsed=()
  while IFS= read -r line; do
    for path in "${!orig[@]}" "${stubs[@]/#/$NETDIR/}"; do
      # the path as a whole: ".../x.link" must not match ".../x.link.d/y.conf"
      [[ -n $path && $line =~ (^|[^[:alnum:]_./-])"$path"($|[^[:alnum:]_./-]) ]] || continue
      if [[ $line == "Parsed configuration file \"$path\"" ]]; then
        parsed[$path]=1
      else
        bad[$path]+="$line"$'\n'
      fi
    done
  done <<<"$log"

  local s
  for s in "${stubs[@]}"; do
    echo "note: no $s in DIR or /usr/lib/systemd/network, a stub stood in for it"
    if [[ -n ${bad[$NETDIR/$s]:-} ]]; then
      printf 'FAIL stub %s: %s' "$s" "${bad[$NETDIR/$s]}"
      failed=1
    fi
  done
  mapfile -t paths < <(printf '%s\n' "${!orig[@]}" | sort)
  for path in "${paths[@]}"; do
    if [[ -n ${bad[$path]:-} ]]; then
      while IFS= read -r line; do
        echo "FAIL ${orig[$path]}: $line"
      done <<<"${bad[$path]%$'\n'}"
      failed=1
    elif [[ $path == *.link && -z ${parsed[$path]:-} ]]; then
      echo "FAIL ${orig[$path]}: udev did not report it as parsed"
      failed=1
    else
      echo "ok ${orig[$path]}"
    fi
  done
  return "$failed"
}

if [[ ${_BTQ_LINK_INNER:-} == 1 ]]; then
  unset _BTQ_LINK_INNER
  inner "$@" # errexit stays on in it; a non-zero return ends the script with that code
  exit 0
fi

# ---------------------------------------------------------------- outside
(($# == 1)) || usage
dir=$1
[[ -d $dir ]] || { echo "$prog: $dir is not a directory" >&2; exit 2; }
if ((EUID != 0)); then
  echo "$prog: needs root (namespaces, sysfs mount)" >&2
  exit 77
fi
for tool in udevadm unshare mount; do
  command -v "$tool" >/dev/null || { echo "$prog: $tool not found" >&2; exit 77; }
done
if [[ ! -d $NETDIR ]]; then
  echo "$prog: $NETDIR is missing" >&2
  exit 77
fi
if ! unshare -m -n --propagation private true 2>/dev/null; then
  echo "$prog: cannot create mount/network namespaces here" >&2
  exit 77
fi

# Map every file to its flattened name; refuse two files that would land on one name.
declare -A seen=()
pairs=()
while IFS= read -r -d '' f; do
  if [[ $f == *.link.d/*.conf ]]; then
    parent=${f%/*}
    staged=${parent##*/}/${f##*/}
  else
    staged=${f##*/}
  fi
  if [[ -n ${seen[$staged]:-} ]]; then
    echo "$prog: $f and ${seen[$staged]} would both be $NETDIR/$staged" >&2
    exit 2
  fi
  seen[$staged]=$f
  pairs+=("$staged" "$f")
done < <(find "$dir" -type f \( \( -name '*.link' ! -path '*.link.d/*' \) -o \
  -path '*.link.d/*.conf' \) -print0 | sort -z)
if ((${#pairs[@]} == 0)); then
  echo "$prog: no *.link or *.link.d/*.conf under $dir" >&2
  exit 2
fi

tmp=$(mktemp -d)
trap 'rm -rf -- "$tmp"' EXIT
for ((i = 0; i < ${#pairs[@]}; i += 2)); do
  staged=${pairs[i]}
  [[ $staged == */* ]] && mkdir -p -- "$tmp/${staged%/*}"
  cp -p -- "${pairs[i + 1]}" "$tmp/$staged"
done
rc=0
_BTQ_LINK_INNER=1 unshare -m -n --propagation private -- \
  bash "${BASH_SOURCE[0]}" "$tmp" "${pairs[@]}" || rc=$?
exit "$rc"
