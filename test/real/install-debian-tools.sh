#!/usr/bin/env bash
# install-debian-tools.sh: install the real tools that the tests in test/real/
# run, on Debian 12 (bookworm), as root. Idempotent.
#
# - From bookworm: cloud-init python3-yaml netplan.io udev shellcheck packer yamllint lxd
#   nftables dnsmasq-base, jq (preseed-apply.sh assembles its JSON with it), strace (the
#   crash-safety tests watch gen's fsync and rename calls), zsh (the completion test loads
#   gen's zsh completion in it), python3-jsonschema (test/schema.test.ts validates every
#   profile and inventory against gen's JSON Schemas with it); python3-yaml
#   is named although cloud-init pulls it in: the property tests read YAML with it.
# - From bookworm-backports: incus-base incus-client (not the `incus`
#   metapackage, which would pull qemu from backports). The backports source is
#   added, on the same mirror as the existing bookworm source, when absent.
# - Debian 13's cloud-init (trixie's .deb, fetched with a private apt source list, so this
#   machine's apt configuration is untouched) unpacked, not installed, into
#   /var/cache/born-tuned/cloud-init-trixie: test/cloud-init.test.ts runs its `cloud-init schema`
#   with Debian 12's python3 and modules (they suffice, FACTS.md). Refetched when trixie's
#   version changes.
# - Then the packaged lxd/incus services and sockets are stopped and disabled,
#   so that tests can run their own throw-away daemons (see preseed-apply.sh).
#
# Only missing packages are installed; when nothing is missing no apt-get
# update runs. On failure it prints one line on stderr and exits 1.
set -euo pipefail

prog=install-debian-tools
main_pkgs=(cloud-init python3-yaml python3-jsonschema netplan.io udev shellcheck packer yamllint lxd nftables dnsmasq-base jq strace zsh)
bpo_pkgs=(incus-base incus-client)
# Sockets before services, so that nothing re-activates a stopped service.
units=(lxd.socket lxd-containers.service lxd.service
	incus-user.socket incus.socket incus-startup.service incus-user.service incus.service)
sysv_services=(lxd-containers lxd incus-startup incus-user incus)

fail() {
	echo "$prog: ERROR: $*" >&2
	exit 1
}

[[ $EUID -eq 0 ]] || fail "must run as root"
codename=$(sed -n "s/^VERSION_CODENAME=//p" /etc/os-release 2>/dev/null | tr -d "\"'")
[[ $codename == bookworm ]] || fail "needs Debian 12 (bookworm), found '${codename:-unknown}'"

missing() {
	local p
	for p in "$@"; do
		[[ $(dpkg-query -W -f='${db:Status-Status}' "$p" 2>/dev/null) == installed ]] || echo "$p"
	done
	return 0
}

apt_sources() {
	local f
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list /etc/apt/sources.list.d/*.sources; do
		[[ -f $f ]] && echo "$f"
	done
	return 0
}

has_backports() {
	local f
	while read -r f; do
		grep -qsE '^[^#]*[[:space:]]bookworm-backports([[:space:]]|$)' "$f" && return 0
	done < <(apt_sources)
	return 1
}

# URI of the enabled Debian archive that serves bookworm (one-line or deb822).
debian_mirror() {
	local f uri
	while read -r f; do
		uri=$(awk '
			function flush() {
				if (types ~ /(^| )deb( |$)/ && suites ~ /(^| )bookworm( |$)/ && uris != "") {
					split(uris, u, " "); print u[1]; found = 1; exit
				}
				types = suites = uris = ""
			}
			/^[[:space:]]*#/ { next }
			$1 == "deb" {
				i = 2
				if ($i ~ /^\[/) { while (i <= NF && $i !~ /\]$/) i++; i++ }
				if ($(i + 1) == "bookworm") { print $i; found = 1; exit }
				next
			}
			/^[[:space:]]*$/ { flush(); next }
			$1 == "Types:" { $1 = ""; types = $0 " " }
			$1 == "URIs:" { $1 = ""; uris = $0 }
			$1 == "Suites:" { $1 = ""; suites = $0 " " }
			END { if (!found) flush() }
		' "$f")
		if [[ -n $uri ]]; then
			echo "${uri%/}"
			return 0
		fi
	done < <(apt_sources)
	echo http://deb.debian.org/debian
}

log=$(mktemp)
trap 'rm -f "$log"' EXIT

apt() { # apt-get with its output in $log; fail with its first error line
	local what=$1
	shift
	if ! DEBIAN_FRONTEND=noninteractive apt-get -q -o DPkg::Lock::Timeout=120 "$@" >"$log" 2>&1 </dev/null; then
		local err
		err=$(grep -m1 '^E:' "$log" || grep -m1 '^Err:' "$log" || tail -n1 "$log")
		fail "$what failed: ${err//$'\n'/ }${update_err:+ (apt-get update: $update_err)}"
	fi
}
update_err=

mapfile -t need_main < <(missing "${main_pkgs[@]}")
mapfile -t need_bpo < <(missing "${bpo_pkgs[@]}")
added_source=

if ((${#need_bpo[@]})) && ! has_backports; then
	mirror=$(debian_mirror)
	keyring=/usr/share/keyrings/debian-archive-keyring.gpg
	opt=
	[[ -f $keyring ]] && opt="[signed-by=$keyring] "
	echo "deb ${opt}${mirror} bookworm-backports main" >/etc/apt/sources.list.d/backports.list
	added_source=" (added /etc/apt/sources.list.d/backports.list: $mirror bookworm-backports)"
fi

if ((${#need_main[@]} + ${#need_bpo[@]})); then
	apt "apt-get update" update
	# apt-get update exits 0 when indexes cannot be fetched (no network):
	# keep its first error for the message of a later failure.
	update_err=$({ grep -m1 -E '^W: Failed to fetch' "$log" || grep -m1 -E '^(Err|E):' "$log"; } | tr -s ' ') || true
	if ((${#need_main[@]})); then
		apt "installing ${need_main[*]}" install -y --no-install-recommends "${need_main[@]}"
	fi
	if ((${#need_bpo[@]})); then
		apt "installing ${need_bpo[*]} from bookworm-backports" \
			install -y --no-install-recommends -t bookworm-backports "${need_bpo[@]}"
	fi
	mapfile -t still < <(missing "${main_pkgs[@]}" "${bpo_pkgs[@]}")
	((${#still[@]} == 0)) || fail "still not installed after apt-get: ${still[*]}"
	done_pkgs=("${need_main[@]}" "${need_bpo[@]}")
	echo "$prog: installed ${done_pkgs[*]}$added_source"
else
	echo "$prog: all packages already installed"
fi

# --- Debian 13's cloud-init, unpacked beside Debian 12's -------------------------
trixie_ci=/var/cache/born-tuned/cloud-init-trixie
trixie_apt=$(mktemp -d)
trap 'rm -f "$log"; rm -rf "$trixie_apt"' EXIT
mkdir -p "$trixie_apt/lists/partial" "$trixie_apt/cache/archives/partial"
echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $(debian_mirror) trixie main" >"$trixie_apt/sources.list"
trixie_opts=(-o "Dir::Etc::SourceList=$trixie_apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
	-o "Dir::State::Lists=$trixie_apt/lists" -o "Dir::Cache=$trixie_apt/cache" -o APT::Sandbox::User=root)
apt "apt-get update (trixie, for its cloud-init)" "${trixie_opts[@]}" update
trixie_version=$(apt-cache "${trixie_opts[@]}" show cloud-init 2>/dev/null | sed -n 's/^Version: //p' | head -n1)
[[ -n $trixie_version ]] || fail "trixie's package lists name no cloud-init"
if [[ $(cat "$trixie_ci/VERSION" 2>/dev/null) != "$trixie_version" ]]; then
	(cd "$trixie_apt" && apt "downloading trixie's cloud-init" "${trixie_opts[@]}" download "cloud-init=$trixie_version")
	rm -rf "$trixie_ci.tmp"
	mkdir -p "$(dirname "$trixie_ci")"
	dpkg-deb -x "$trixie_apt"/cloud-init_*.deb "$trixie_ci.tmp" || fail "cannot unpack trixie's cloud-init"
	echo "$trixie_version" >"$trixie_ci.tmp/VERSION"
	rm -rf "$trixie_ci"
	mv "$trixie_ci.tmp" "$trixie_ci"
	echo "$prog: unpacked Debian 13's cloud-init $trixie_version into $trixie_ci"
fi

# --- keep the packaged daemons out of the way ---------------------------------
if [[ -d /run/systemd/system ]]; then
	for u in "${units[@]}"; do
		if systemctl -q is-active "$u" 2>/dev/null; then
			systemctl stop "$u" || fail "cannot stop $u"
			echo "$prog: stopped $u"
		fi
	done
else
	# No systemd: the packages' SysV scripts may have started a daemon (pid file
	# in /run); stop it with its own init script (which uses the pid file).
	for s in "${sysv_services[@]}"; do
		pidfile=/run/$s.pid
		if [[ -x /etc/init.d/$s && -s $pidfile ]] && kill -0 "$(cat "$pidfile")" 2>/dev/null; then
			"/etc/init.d/$s" stop >/dev/null 2>&1 || fail "cannot stop $s (/etc/init.d/$s stop)"
			echo "$prog: stopped $s"
		fi
	done
fi
# `systemctl disable` also works without a running systemd (and also disables
# the SysV links of services that have an init script).
mapfile -t to_disable < <(systemctl list-unit-files --no-legend --no-pager "${units[@]}" 2>/dev/null |
	awk '$2 == "enabled" || $2 == "enabled-runtime" { print $1 }')
if ((${#to_disable[@]})); then
	systemctl disable -q "${to_disable[@]}" >/dev/null 2>&1 || fail "cannot disable ${to_disable[*]}"
	echo "$prog: disabled ${to_disable[*]}"
fi
