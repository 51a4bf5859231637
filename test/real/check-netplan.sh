#!/usr/bin/env bash
# Validate netplan YAML with netplan itself (netplan.io 0.106 on Debian 12), offline.
#
# usage: check-netplan.sh [--keep DIR] FILE...
#   --keep DIR  copy what netplan generated (run/systemd/network/*.netdev, *.network, *.link...)
#               to DIR/run/, for a caller that asserts on the files systemd-networkd would read
#   The files are copied at mode 0600 into a temporary root's etc/netplan/ (netplan
#   merges all of them in name order, as on a host) and `netplan generate --root-dir ROOT`
#   runs; it writes only below ROOT. The root is removed on exit.
#   Fails (exit 1) when netplan exits non-zero (its message, e.g.
#   "FILE:6:7: Error in network definition: unknown key 'stpp'", is printed with the
#   temporary path replaced by FILE) and when it prints a warning with exit 0 (e.g.
#   "`gateway4` has been deprecated").
# Output: "ok netplan generate: <generated files>" or "FAIL netplan: <message>".
# Exit: 0 ok, 1 failure, 2 usage error, 77 netplan missing.
set -euo pipefail

prog=${0##*/}
usage() {
  echo "usage: $prog [--keep DIR] FILE..." >&2
  exit 2
}

keep=
if [[ ${1:-} == --keep ]]; then
  if (($# < 2)) || [[ ! -d $2 ]]; then usage; fi
  keep=$2
  shift 2
fi
(($# >= 1)) || usage
command -v netplan >/dev/null || { echo "$prog: netplan not found" >&2; exit 77; }

declare -A seen=()
for f in "$@"; do
  [[ -f $f && -r $f ]] || { echo "$prog: cannot read $f" >&2; exit 2; }
  base=${f##*/}
  if [[ $base != *.yaml ]]; then
    echo "$prog: $f: netplan only reads *.yaml files" >&2
    exit 2
  fi
  if [[ -n ${seen[$base]:-} ]]; then
    echo "$prog: $f and ${seen[$base]} have the same name" >&2
    exit 2
  fi
  seen[$base]=$f
done

root=$(mktemp -d)
trap 'rm -rf -- "$root"' EXIT
mkdir -p "$root/etc/netplan"
for f in "$@"; do
  install -m 0600 -- "$f" "$root/etc/netplan/${f##*/}"
done

rc=0
# Without SNAP: netplan generate inside a snap asks a D-Bus service instead.
out=$(env -u SNAP netplan generate --root-dir "$root" 2>&1) || rc=$?
for f in "$@"; do
  out=${out//"$root/etc/netplan/${f##*/}"/"$f"}
done
out=${out//"$root"/ROOT}

if ((rc != 0)); then
  printf 'FAIL netplan (exit %d):\n%s\n' "$rc" "$out"
  exit 1
fi
if [[ -n $out ]] && grep -q WARNING <<<"$out"; then
  printf 'FAIL netplan (exit 0, warnings):\n%s\n' "$out"
  exit 1
fi
[[ -z $out ]] || printf '%s\n' "$out"
[[ -z $keep || ! -d $root/run ]] || cp -r -- "$root/run" "$keep/"
generated=$(cd "$root" && find . -type f ! -path './etc/netplan/*' | sed 's|^\./||' | sort | tr '\n' ' ' | sed 's/ $//')
echo "ok netplan generate: ${generated:-(nothing)}"
