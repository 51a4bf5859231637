#!/usr/bin/env bash
# preseed-apply.sh MANAGER FILE
#
# Applies an LXD or Incus preseed to a throw-away daemon and prints the
# resulting state as JSON on stdout:
#   {"manager", "server_version", "config", "storage_pools", "networks",
#    "profiles"}
# (networks: managed ones only; all lists sorted by name; the private state
# directory inside any string is replaced by "$STATE_DIR").
#
#   MANAGER  lxd (Debian 12's lxd 5.0.2) or incus (incus-base from backports)
#   FILE     preseed YAML, as given to `lxd init --preseed` /
#            `incus admin init --preseed`
#
# The daemon runs with a private temp state dir, as PID 1 of its own mount,
# network and PID namespaces (`unshare -m -n -p`), with its own /proc and a
# fresh sysfs that shows only its own network devices. Nothing it creates
# (bridges, nftables rules, mounts, dnsmasq) is visible in the host's
# namespaces. On exit (also on errors and signals) dnsmasq/forkdns are
# stopped by PID, then the daemon, and the temp dir is removed.
#
# A dir pool with a `source` outside the temp dir uses that host directory as
# is (it must exist and be empty; the daemon creates its subdirectories there
# and this script does not remove them).
#
# Exit status: 0 when the preseed was applied; 1 when the preseed (or the
# daemon) failed, with the client's error message on stderr; 2 on bad usage.
# Needs root, util-linux unshare, iproute2, jq.
set -euo pipefail

prog=preseed-apply

# --- inside the namespaces: runs as PID 1, then becomes the daemon ---------
if [[ ${1:-} == __ns-init ]]; then
	manager=$2
	dir=$3
	ip link set lo up
	# A fresh sysfs: the inherited one shows the host's network devices.
	# Keep the cgroup mounts (moved over from the old sysfs).
	if mountpoint -q /sys/fs/cgroup; then
		mkdir "$dir/cgroup"
		mount --rbind /sys/fs/cgroup "$dir/cgroup"
		mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
		mount --move "$dir/cgroup" /sys/fs/cgroup
	else
		mount -t sysfs -o nosuid,nodev,noexec sysfs /sys
	fi
	case $manager in
	lxd) exec lxd --group root --logfile "$dir/daemon.log" ;;
	incus) exec /usr/libexec/incus/incusd --group root --logfile "$dir/daemon.log" ;;
	esac
	exit 2
fi

usage() {
	echo "usage: $0 lxd|incus PRESEED.yaml" >&2
	exit 2
}
die() {
	echo "$prog: $*" >&2
	exit 1
}
now() { echo "${EPOCHREALTIME/,/.}"; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }

[[ $# -eq 2 ]] || usage
manager=$1
file=$2
case $manager in
lxd)
	daemon_bin=lxd
	client=(lxc --force-local)
	admin=(lxd)
	;;
incus)
	daemon_bin=/usr/libexec/incus/incusd
	client=(incus --force-local)
	admin=(incus --force-local admin)
	;;
*) usage ;;
esac
[[ -f $file && -r $file ]] || die "cannot read preseed file: $file"
[[ $EUID -eq 0 ]] || die "must run as root (it creates namespaces and mounts)"
for tool in "$daemon_bin" "${client[0]}" unshare ip jq mountpoint; do
	command -v "$tool" >/dev/null || die "missing tool: $tool (run test/real/install-debian-tools.sh)"
done

self=$(readlink -f "${BASH_SOURCE[0]}")
t_start=$(now)

dir=$(mktemp -d "${TMPDIR:-/tmp}/preseed-apply.XXXXXX")
state=$dir/state
mkdir -m 0711 "$state"
mkdir -m 0700 "$dir/client"
# unix socket paths are limited to 107 bytes
((${#state} < 90)) || die "temp dir path too long: $state"
# Client and daemon both use the private dir (no ~/.config/lxc or /var/lib/...).
export LXD_DIR=$state INCUS_DIR=$state LXD_CONF=$dir/client INCUS_CONF=$dir/client

unshare_pid=
init_pid=
pidns=

# Host PIDs of the processes in our PID namespace.
ns_pids() {
	[[ -n $pidns ]] || return 0
	local p
	for p in /proc/[0-9]*; do
		[[ $(readlink "$p/ns/pid" 2>/dev/null) == "$pidns" ]] && echo "${p#/proc/}"
	done
	return 0
}

# Host PID of the process whose PID inside our namespace is $1.
host_pid_of() {
	local p nspid
	for p in $(ns_pids); do
		nspid=$(awk '/^NSpid:/ { print $NF }' "/proc/$p/status" 2>/dev/null) || continue
		if [[ $nspid == "$1" ]]; then
			echo "$p"
			return 0
		fi
	done
	return 1
}

alive() { [[ -n $1 ]] && kill -0 "$1" 2>/dev/null; }

wait_gone() { # PID TENTHS
	local i
	for ((i = 0; i < $2; i++)); do
		alive "$1" || return 0
		sleep 0.1
	done
	return 1
}

cleanup() {
	local rc=$? f nspid hp p
	set +e
	trap - EXIT INT TERM HUP
	if alive "$init_pid"; then
		# dnsmasq / forkdns started by the daemon: their pid files hold the
		# PID inside our namespace.
		for f in "$state"/networks/*/dnsmasq.pid "$state"/networks/*/forkdns.pid; do
			[[ -f $f ]] || continue
			nspid=$(sed -n 's/^pid: *//p' "$f")
			[[ $nspid =~ ^[0-9]+$ ]] || nspid=$(tr -dc 0-9 <"$f")
			[[ -n $nspid ]] || continue
			if hp=$(host_pid_of "$nspid") && [[ $hp != "$init_pid" ]]; then
				kill -TERM "$hp" 2>/dev/null
				wait_gone "$hp" 30 || kill -KILL "$hp" 2>/dev/null
			fi
		done
		timeout 20 "${admin[@]}" shutdown --timeout=15 >/dev/null 2>&1
		wait_gone "$init_pid" 50 || kill -KILL "$init_pid" 2>/dev/null
	fi
	# Anything still left in the namespace (the kernel kills the rest when
	# PID 1 exits; this only matters if that did not happen yet).
	for p in $(ns_pids); do
		kill -KILL "$p" 2>/dev/null
	done
	if [[ -n $unshare_pid ]]; then
		alive "$unshare_pid" && ! wait_gone "$unshare_pid" 50 && kill -KILL "$unshare_pid" 2>/dev/null
		wait "$unshare_pid" 2>/dev/null
	fi
	rm -rf "$dir"
	echo "$prog: $manager: total $(elapsed "$t_start")s (exit $rc)" >&2
	exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM HUP

show_daemon_log() {
	local f
	for f in "$dir/daemon.out" "$dir/daemon.log"; do
		[[ -s $f ]] && sed "s/^/$prog: daemon: /" "$f" >&2
	done
	return 0
}

# --- start the daemon --------------------------------------------------------
unshare --mount --net --pid --fork --mount-proc --kill-child=SIGKILL --propagation private \
	-- "$self" __ns-init "$manager" "$dir" </dev/null >"$dir/daemon.out" 2>&1 &
unshare_pid=$!

# The child of unshare (PID 1 in the new namespaces).
child_of() {
	local c p
	if [[ -r /proc/$1/task/$1/children ]]; then
		c=$(<"/proc/$1/task/$1/children")
		echo "${c%% *}"
		return 0
	fi
	for p in /proc/[0-9]*; do # kernels without CONFIG_PROC_CHILDREN
		if [[ $(awk '/^PPid:/ { print $2 }' "$p/status" 2>/dev/null) == "$1" ]]; then
			echo "${p#/proc/}"
			return 0
		fi
	done
}

for ((i = 0; i < 100; i++)); do
	init_pid=$(child_of "$unshare_pid")
	[[ -n $init_pid ]] && break
	alive "$unshare_pid" || break
	sleep 0.05
done
if [[ -z $init_pid ]]; then
	show_daemon_log
	die "could not start the $manager daemon"
fi
pidns=$(readlink "/proc/$init_pid/ns/pid") || die "daemon exited at once"

t_ready=$(now)
until "${admin[@]}" waitready --timeout=1 >/dev/null 2>&1; do
	if ! alive "$init_pid"; then
		show_daemon_log
		die "the $manager daemon exited before it was ready"
	fi
	if (($(awk -v a="$t_ready" -v b="$(now)" 'BEGIN { print (b - a > 60) }'))); then
		show_daemon_log
		die "the $manager daemon was not ready after 60 s"
	fi
	sleep 0.1
done
ready_s=$(elapsed "$t_ready")

# --- apply the preseed -----------------------------------------------------
t_apply=$(now)
if ! out=$("${admin[@]}" init --preseed <"$file" 2>&1); then
	printf '%s\n' "$out" >&2
	exit 1
fi
[[ -z $out ]] || printf '%s\n' "$out" >&2
apply_s=$(elapsed "$t_apply")

# --- read back the state -----------------------------------------------------
# `query` prints nothing (not `[]`) for an empty list.
q() {
	local out
	out=$("${client[@]}" query "$1") || die "query $1 failed"
	echo "${out:-null}"
}
server=$(q /1.0)
pools=$(q '/1.0/storage-pools?recursion=1')
networks=$(q '/1.0/networks?recursion=1')
profiles=$(q '/1.0/profiles?recursion=1')

jq -n --arg manager "$manager" --arg state "$state" \
	--argjson server "$server" --argjson pools "$pools" \
	--argjson networks "$networks" --argjson profiles "$profiles" '
	{
		manager: $manager,
		server_version: $server.environment.server_version,
		config: ($server.config // {}),
		storage_pools: [($pools // [])[] | {name, driver, description, config}] | sort_by(.name),
		networks: [($networks // [])[] | select(.managed) | {name, type, description, config}] | sort_by(.name),
		profiles: [($profiles // [])[] | {name, description, config, devices}] | sort_by(.name)
	}
	| walk(if type == "string" then (split($state) | join("$STATE_DIR")) else . end)' ||
	die "could not assemble the JSON output"

echo "$prog: $manager: daemon ready in ${ready_s}s, preseed applied in ${apply_s}s" >&2
