// born-tuned e2e guest report: prints one JSON object on stdout describing the live state of this
// host after cloud-init. Runs inside the guest with the node binary copied into the image; only
// node builtins. It reports facts and does not judge them, except that it runs the CLI under test,
// `gen verify --format json`, from the mounted seed (BORN_TUNED_E2E_SEED) and includes its output:
// test/e2e/compare.mjs on the host side judges the report (gen verify's rows for the profile's
// settings, plus cloud-init, failed units and PAM sessions).
//
// The manager (lxd or incus) comes from the kernel command line (born_tuned_e2e.manager=NAME,
// set by boot.sh). `gen verify` runs first, before anything else has used the manager: on a later
// boot a socket-activated daemon is not running yet, and verify must wake it itself, as it does
// for an operator who logs in and runs it. What gen verify checks is not collected again here.
import { execFileSync } from "node:child_process";
import { X509Certificate } from "node:crypto";
import { existsSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const report = { schema: 1, errors: [] };

function run(cmd, args, timeout = 180_000) {
	try {
		const stdout = execFileSync(cmd, args, {
			encoding: "utf8",
			timeout,
			stdio: ["ignore", "pipe", "pipe"],
			env: { ...process.env, HOME: "/root", LANG: "C.UTF-8" },
		});
		return { rc: 0, stdout, stderr: "" };
	} catch (e) {
		return {
			rc: typeof e.status === "number" ? e.status : -1,
			stdout: String(e.stdout ?? ""),
			stderr: String(e.stderr ?? e.message),
		};
	}
}

function read(path) {
	try {
		return readFileSync(path, "utf8");
	} catch {
		return null;
	}
}

// Milliseconds each section took, in the order they ran: under TCG a boot takes minutes, and this
// (with boot_timeline below) says where they go. Diagnostic only; compare.mjs does not judge it.
report.timings_ms = {};

// `systemctl show` of UNITS for PROPS: the exit status, and one object of property values per unit,
// in the order asked (systemctl separates the units' blocks with an empty line).
function systemctlShow(units, props) {
	const r = run("systemctl", ["show", "--no-pager", ...props.map((p) => `--property=${p}`), ...units]);
	const blocks = r.stdout.split("\n\n").map((block) => {
		const values = {};
		for (const line of block.split("\n")) {
			const eq = line.indexOf("=");
			if (eq > 0) values[line.slice(0, eq)] = line.slice(eq + 1);
		}
		return values;
	});
	return { rc: r.rc, units: blocks };
}

function guard(name, fn) {
	const started = Date.now();
	try {
		return fn();
	} catch (e) {
		report.errors.push(`${name}: ${e.stack ?? e}`);
		return null;
	} finally {
		report.timings_ms[name] = Date.now() - started;
	}
}

const cmdline = read("/proc/cmdline") ?? "";
const manager = /(?:^|\s)born_tuned_e2e\.manager=(\S+)/.exec(cmdline)?.[1] ?? null;
report.manager = manager;
report.boot_id = (read("/proc/sys/kernel/random/boot_id") ?? "").trim();
report.kernel = (read("/proc/sys/kernel/osrelease") ?? "").trim();
report.uptime_s = Number((read("/proc/uptime") ?? "0").split(" ")[0]);
report.cmdline = cmdline.trim();

// --- where the boot's time went (diagnostic) -------------------------------------------------------
// `systemd-analyze blame` refuses to run before the boot has finished, and this report is part of
// the boot, so the figures come from the units' monotonic timestamps: when each unit of the boot's
// critical path began and how long it took to come up (seconds since the kernel started). A fixed
// list, one call: `systemctl show` over every unit costs ~10 s under TCG.
const TIMELINE_UNITS = [
	"apparmor.service", "systemd-udev-trigger.service", "local-fs.target", "cloud-init-main.service",
	"cloud-init-local.service", "systemd-networkd-wait-online.service", "cloud-init-network.service",
	"cloud-init.service", "network-online.target", "cloud-config.service", "lxd.service", "incus.service",
	"lxd-containers.service", "incus-startup.service", "born-tuned-fence.service", "multi-user.target",
	"cloud-final.service", "born-tuned-e2e-report.service",
];
report.boot_timeline = guard("boot_timeline", () => {
	const props = ["Id", "LoadState", "InactiveExitTimestampMonotonic", "ActiveEnterTimestampMonotonic"];
	const units = [];
	for (const f of systemctlShow(TIMELINE_UNITS, props).units) {
		const start = Number(f.InactiveExitTimestampMonotonic);
		const up = Number(f.ActiveEnterTimestampMonotonic);
		if (f.Id && f.LoadState === "loaded" && start > 0)
			units.push({ unit: f.Id, start_s: +(start / 1e6).toFixed(1), took_s: up > start ? +((up - start) / 1e6).toFixed(1) : null });
	}
	return { report_started_s: report.uptime_s, units: units.sort((a, b) => a.start_s - b.start_s) };
});

// --- cloud-init ---------------------------------------------------------------------------------
report.cloud_init = guard("cloud_init", () => {
	const st = run("cloud-init", ["status", "--long"]);
	const status = /^status:\s*(\S+)/m.exec(st.stdout)?.[1] ?? null;
	let result = null;
	const raw = read("/run/cloud-init/result.json");
	if (raw !== null) {
		try {
			result = JSON.parse(raw);
		} catch (e) {
			result = { unparsable: raw };
		}
	}
	let statusJson = null;
	const sj = read("/run/cloud-init/status.json");
	if (sj !== null) {
		try {
			statusJson = JSON.parse(sj);
		} catch {
			statusJson = null;
		}
	}
	// WARNING/ERROR/CRITICAL lines of cloud-init.log for this boot only (the log is appended
	// across boots; a boot starts with the init-local stage).
	const log = read("/var/log/cloud-init.log") ?? "";
	const lines = log.split("\n");
	let start = 0;
	lines.forEach((l, i) => {
		if (/Cloud-init v\. \S+ running 'init-local'/.test(l)) start = i;
	});
	const thisBoot = start > 0 || /running 'init-local'/.test(lines[0] ?? "") ? lines.slice(start) : [];
	// cloud-init 23.4 and later (Debian 13's 25.1) log a deprecated key at their own DEPRECATED level.
	const problems = thisBoot.filter((l) => /\[(WARNING|DEPRECATED|ERROR|CRITICAL)\]/.test(l));
	// Did this boot run the user's runcmd (scripts-user runs once per instance)?
	const scriptsUser = thisBoot.some((l) => /Running config-scripts[-_]user using lock/.test(l))
		? "ran"
		: thisBoot.some((l) => /config-scripts[-_]user already ran/.test(l))
			? "already ran"
			: "unknown";
	let instanceId = null;
	try {
		instanceId = JSON.parse(read("/run/cloud-init/instance-data.json") ?? "null")?.v1?.instance_id ?? null;
	} catch {
		instanceId = null;
	}
	const output = (read("/var/log/cloud-init-output.log") ?? "").split("\n");
	return {
		status,
		status_long: st.stdout + st.stderr,
		status_rc: st.rc,
		result,
		status_json_v1: statusJson?.v1
			? {
					stage: statusJson.v1.stage,
					errors: collectStageErrors(statusJson.v1),
					recoverable: collectRecoverable(statusJson.v1),
				}
			: null,
		log_lines_this_boot: thisBoot.length,
		log_problems: problems,
		scripts_user: scriptsUser,
		instance_id: instanceId,
		output_tail: output.slice(-60),
	};
});

// cloud-init 23.4 and later keep, per stage, what went wrong without failing it (WARNING and
// DEPRECATED messages, by level); 22.4 (Debian 12) has no such field.
function collectRecoverable(v1) {
	const out = {};
	for (const [stage, v] of Object.entries(v1)) {
		const r = v && typeof v === "object" ? v.recoverable_errors : null;
		if (r && typeof r === "object") {
			for (const [level, msgs] of Object.entries(r)) {
				if (Array.isArray(msgs) && msgs.length) out[`${stage} ${level}`] = msgs;
			}
		}
	}
	return out;
}

function collectStageErrors(v1) {
	const out = {};
	for (const [stage, v] of Object.entries(v1)) {
		if (v && typeof v === "object" && Array.isArray(v.errors)) out[stage] = v.errors;
	}
	return out;
}

// A verifier's JSON run as {argv, rc, ms, stderr, result} (stdout too when it is not JSON).
function runJson(cmd, args) {
	const started = Date.now();
	const r = run(cmd, args);
	const ms = Date.now() - started;
	let result = null;
	try {
		result = JSON.parse(r.stdout);
	} catch {
		result = null;
	}
	return {
		argv: [cmd === "/usr/local/bin/node" ? "node" : cmd, ...args],
		rc: r.rc,
		ms,
		stderr: r.stderr.slice(0, 4000),
		result,
		...(result ? {} : { stdout: r.stdout.slice(0, 4000) }),
	};
}

// The on-host verifier (POSIX sh, no Node), as installed by user-data or the image.
const SELF_CHECK = "/usr/local/sbin/born-tuned-verify";

// gen verify --format json from the seed, as {argv, profiles, rc, ms, stderr, result}.
function runVerify() {
	const seed = process.env.BORN_TUNED_E2E_SEED;
	if (!seed) return { error: "the seed is not mounted (see the serial log)" };
	const root = join(seed, "born-tuned");
	const stack = (read(join(root, "stack")) ?? "").split("\n").map((l) => l.trim()).filter(Boolean);
	if (stack.length === 0) return { error: `no profiles in ${join(root, "stack")}` };
	const argv = [join(root, "dist/gen.js"), "verify", "--profiles-dir", join(root, "e2e-profiles"),
		...stack.flatMap((p) => ["--profile", p]), "--format", "json"];
	return { ...runJson("/usr/local/bin/node", argv), profiles: stack };
}

// --- gen verify, from the seed (the CLI under test is on the NoCloud ISO, not in the image) --------
// The judge of the profile's settings. The seed's born-tuned/stack names the profiles, one per line.
report.verify = guard("verify", runVerify);

// --- born-tuned-verify, the host's own verifier, right after gen verify: compare.mjs holds its rows
// to gen verify's (but the manager's, which only gen verify asks for).
report.self_check = guard("self_check", () => runJson(SELF_CHECK, ["--json"]));

// --- identity: what makes this host itself (issue 14, item 6) -------------------------------------
// Facts only: machine-id, the SSH host keys' fingerprints (ssh-keygen -l), the manager's TLS
// certificate (its sha256 fingerprint as the daemon gives it, and the file's own sha256, which
// 90-cleanup.sh prints for the build VM's), whether each login user's password is locked (the field
// of /etc/shadow reduced to locked, empty or set; never the hash), and sshd's effective
// PasswordAuthentication (`sshd -T`). compare.mjs (compareIdentity) holds two hosts of one image apart.
report.identity = guard("identity", () => {
	const hostKeys = readdirSync("/etc/ssh")
		.filter((n) => /^ssh_host_.*_key\.pub$/.test(n))
		.sort()
		.map((n) => {
			const r = run("ssh-keygen", ["-l", "-f", join("/etc/ssh", n)]);
			return { file: n, fingerprint: r.stdout.trim().split(/\s+/)[1] ?? null, rc: r.rc };
		});
	const certPath = manager ? `/var/lib/${manager}/server.crt` : null;
	const pem = certPath ? read(certPath) : null;
	let cert = null;
	if (pem !== null) {
		cert = {
			path: certPath,
			fingerprint: new X509Certificate(pem).fingerprint256.replace(/:/g, "").toLowerCase(),
			file_sha256: run("sha256sum", [certPath]).stdout.slice(0, 64),
		};
	}
	const shells = new Map((read("/etc/passwd") ?? "").split("\n").map((l) => l.split(":")).filter((f) => f.length >= 7).map((f) => [f[0], f]));
	const logins = [];
	for (const line of (read("/etc/shadow") ?? "").split("\n")) {
		const [name, pw] = line.split(":");
		const f = shells.get(name);
		if (!f || Number(f[2]) < 1000 || Number(f[2]) >= 60000 || !/sh$/.test(f[6] ?? "")) continue;
		logins.push({ name, password: pw === "" ? "empty" : /^[!*]/.test(pw) ? "locked" : "set" });
	}
	const sshd = run("sshd", ["-T"]);
	return {
		machine_id: (read("/etc/machine-id") ?? "").trim(),
		ssh_host_keys: hostKeys,
		manager_cert: cert ?? { path: certPath, missing: true },
		logins,
		sshd_password_authentication: /^passwordauthentication (\S+)$/m.exec(sshd.stdout)?.[1] ?? `sshd -T: rc ${sshd.rc}: ${sshd.stderr.trim().slice(0, 300)}`,
	};
});

// VM B of an identity proof (boot.sh puts born-tuned/light on its seed) stops here: no drift, no
// container; compare.mjs does not ask for them on such a boot.
report.light = !!process.env.BORN_TUNED_E2E_SEED && existsSync(join(process.env.BORN_TUNED_E2E_SEED, "born-tuned", "light"));

// --- drift: a raise key set below wanted, both verifiers run, the key restored -------------------
// The first `raise KEY = N` of the wanted file with one number, whose live value is one number, is
// written N-1 (as `sysctl -w` would), both verifiers run, and the live value is written back.
// compare.mjs requires both to fail that row and exit 1, with the same rows, and the restore.
// Boot 2 only (born-tuned-e2e-report numbers the boots in BORN_TUNED_E2E_BOOT): both verifiers
// again cost the boot half a minute under TCG, and one drift per stack proves what it proves.
// A light report (VM B of the identity proof) has none.
if (!report.light && process.env.BORN_TUNED_E2E_BOOT !== "1") report.drift = guard("drift", () => {
	const wanted = (read("/etc/born-tuned/sysctl.wanted") ?? "").split("\n");
	const procPath = (key) => `/proc/sys/${key.replace(/[./]/g, (c) => (c === "." ? "/" : "."))}`;
	let pick = null;
	for (const line of wanted) {
		const m = /^raise (\S+) = (\d+)$/.exec(line.trim());
		if (!m || Number(m[2]) < 1) continue;
		const live = (read(procPath(m[1])) ?? "").trim();
		if (/^\d+$/.test(live)) {
			pick = { key: m[1], wanted: m[2], had: live };
			break;
		}
	}
	if (!pick) return { error: "no raise key with one number in /etc/born-tuned/sysctl.wanted" };
	const path = procPath(pick.key);
	const set = String(Number(pick.wanted) - 1);
	writeFileSync(path, `${set}\n`);
	let out;
	try {
		const now = (read(path) ?? "").trim();
		const verify = report.verify?.argv ? runJson("/usr/local/bin/node", report.verify.argv.slice(1)) : { error: "gen verify did not run" };
		out = { ...pick, set, live_while_drifted: now, verify, self_check: runJson(SELF_CHECK, ["--json"]) };
	} finally {
		writeFileSync(path, `${pick.had}\n`);
	}
	out.restored = (read(path) ?? "").trim() === pick.had;
	return out;
});

// --- diagnostics (not compared): the manager's view of what the preseed made ---------------------
report.preseed = guard("preseed", () => {
	if (manager !== "lxd" && manager !== "incus") return { error: `unknown manager ${manager}` };
	const cli = manager === "lxd" ? "lxc" : "incus";
	const q = (path) => {
		const r = run(cli, ["query", path]);
		if (r.rc !== 0) return { error: `${cli} query ${path}: rc ${r.rc}: ${r.stderr.trim()}` };
		try {
			return JSON.parse(r.stdout);
		} catch {
			return { error: `${cli} query ${path}: not JSON: ${r.stdout.slice(0, 500)}` };
		}
	};
	return {
		cli,
		server_version: (() => {
			const s = q("/1.0");
			return s?.environment?.server_version ?? s?.error ?? null;
		})(),
		storage_pools: q("/1.0/storage-pools?recursion=1"),
		networks: q("/1.0/networks?recursion=1"),
		profile_default: q("/1.0/profiles/default"),
	};
});

// --- storage: the manager's pools and the block devices under them (compare.mjs: compareStorage) ---
// Facts only: each pool as the manager lists it (driver, source, the source it was created on, the
// LVM names), the block devices (lsblk), what the pool disk's by-id link points at, and the
// driver's own view (btrfs filesystem show, pvs/lvs), plus the device step's lines from boot 1's
// cloud-init output.
report.storage = guard("storage", collectStorage);

function collectStorage() {
	const cli = manager === "lxd" ? "lxc" : manager === "incus" ? "incus" : null;
	const out = { pools: null, lsblk: null, by_id: {}, btrfs_show: null, pvs: null, lvs: null, device_step: [] };
	if (cli) {
		const r = run(cli, ["query", "/1.0/storage-pools?recursion=1"]);
		out.pools = r.rc === 0
			? JSON.parse(r.stdout).map((p) => ({ name: p.name, driver: p.driver, status: p.status, config: p.config ?? {} }))
			: { error: `${cli} query: rc ${r.rc}: ${r.stderr.trim()}` };
	}
	const lsblk = run("lsblk", ["-J", "-p", "-o", "NAME,TYPE,FSTYPE,SIZE,SERIAL,MOUNTPOINT"]);
	out.lsblk = lsblk.rc === 0 ? JSON.parse(lsblk.stdout).blockdevices : { error: lsblk.stderr.trim() };
	const byId = "/dev/disk/by-id";
	for (const name of existsSync(byId) ? readdirSync(byId) : []) {
		if (name.startsWith("virtio-")) out.by_id[join(byId, name)] = run("readlink", ["-f", join(byId, name)]).stdout.trim();
	}
	const bt = run("btrfs", ["filesystem", "show"]);
	out.btrfs_show = bt.rc === 0 ? bt.stdout : { rc: bt.rc, stderr: bt.stderr.trim() };
	const lvm = (cmd, fields) => {
		const r = run(cmd, ["--reportformat", "json", "-o", fields]);
		if (r.rc !== 0) return { rc: r.rc, stderr: r.stderr.trim() };
		return Object.values(JSON.parse(r.stdout).report?.[0] ?? {}).flat();
	};
	out.pvs = lvm("pvs", "pv_name,vg_name");
	out.lvs = lvm("lvs", "vg_name,lv_name,segtype,pool_lv");
	for (const line of (read("/var/log/cloud-init-output.log") ?? "").split("\n")) {
		if (/^born-tuned: storage pool /.test(line)) out.device_step.push(line);
	}
	return out;
}

// --- PAM limits of a login session (runuser -l goes through pam_limits on Debian) ----------------
// root, and the first regular user (cloud-init's default user): limits.d's "*" does not match root.
report.pam_limits = guard("pam_limits", () => {
	const users = ["root"];
	const passwd = (read("/etc/passwd") ?? "").split("\n").map((l) => l.split(":"));
	const regular = passwd.find((f) => Number(f[2]) >= 1000 && Number(f[2]) < 60000 && /sh$/.test(f[6] ?? ""));
	if (regular) users.push(regular[0]);
	const out = {};
	for (const u of users) {
		const r = run("runuser", ["-l", u, "-c",
			"echo nofile $(ulimit -Sn) $(ulimit -Hn); echo memlock $(ulimit -Sl) $(ulimit -Hl); echo nproc $(ulimit -Su) $(ulimit -Hu)"]);
		const lim = {};
		for (const line of r.stdout.split("\n")) {
			const [item, soft, hard] = line.trim().split(/\s+/);
			if (item && soft && hard) lim[item] = { soft, hard };
		}
		out[u === "root" ? "root" : "user"] = { name: u, rc: r.rc, stderr: r.stderr.trim(), limits: lim };
	}
	return out;
});

// --- what the first-boot sysctl step found and set, and each key's live value now -----------------
// born-tuned-sysctl-apply prints "born-tuned: KEY = V (was H)" or "born-tuned: KEY = H already";
// H is what the kernel had when the step ran. cloud-init-output.log keeps boot 1's lines on boot
// 2, so compare.mjs can hold both boots to what the kernel had before anything of ours applied.
report.sysctl_apply = guard("sysctl_apply", () => {
	const out = [];
	for (const line of (read("/var/log/cloud-init-output.log") ?? "").split("\n")) {
		const m = /^born-tuned: (\S+) = (.*?)(?: \(was (.*)\)| already)$/.exec(line);
		if (!m) continue;
		const key = m[1];
		const path = `/proc/sys/${key.replace(/[./]/g, (c) => (c === "." ? "/" : "."))}`;
		const live = (read(path) ?? "").trim().split(/\s+/).join(" ");
		out.push({ key, set: m[2], had: m[3] ?? m[2], live });
	}
	return out;
});

// --- what gen explain claims about this kernel (compare.mjs holds explain to it) ------------------
// The queueing discipline of every device (txqueuelen only sizes the queue of a few, e.g.
// pfifo_fast; a noqueue device has none), whether /sys/kernel/slab still lists cgroups (per-cgroup
// slab caches, gone since 5.9) and whether /proc/sched_debug exists (moved to debugfs in 5.13).
report.kernel_facts = guard("kernel_facts", () => {
	const tc = run("tc", ["-j", "qdisc", "show"]);
	if (tc.rc !== 0) throw new Error(`tc -j qdisc show: exit ${tc.rc}: ${tc.stderr}`);
	const qdiscs = JSON.parse(tc.stdout).map((q) => ({ dev: q.dev, kind: q.kind, root: q.root === true }));
	const slab = "/sys/kernel/slab";
	const slabCgroupDirs = readdirSync(slab).filter((c) => existsSync(join(slab, c, "cgroup"))).length;
	return { qdiscs, slab_cgroup_dirs: slabCgroupDirs, sched_debug: existsSync("/proc/sched_debug") };
});

// --- the fence: its table as the kernel has it, its unit, and when the manager's socket came up ----
// compare.mjs fails a boot without the table loaded on the bridge, and (boot 2, where nothing of
// first boot's runcmd runs) one where the fence came up after the manager's socket.
report.fence = guard("fence", () => {
	const nft = run("nft", ["-j", "list", "table", "inet", "born_tuned_fence"]);
	let table = null;
	if (nft.rc === 0) table = JSON.parse(nft.stdout);
	const props = ["ActiveState", "UnitFileState", "Result", "ActiveEnterTimestampMonotonic"];
	const show = (unit) => {
		const r = systemctlShow([unit], props);
		return { rc: r.rc, ...r.units[0] };
	};
	return {
		nft_rc: nft.rc,
		nft_stderr: nft.stderr.trim(),
		table,
		unit: show("born-tuned-fence.service"),
		manager_socket: manager ? show(`${manager}.socket`) : null,
	};
});

// --- capacity: root's subordinate ranges and the modules born-tuned loads at boot ----------------
// /etc/subuid and /etc/subgid as first boot's subids step left them; for each module named in
// /etc/modules-load.d/born-tuned.conf, whether it is loaded, and what systemd-modules-load said this
// boot ("Inserted module 'nf_conntrack'" on boot 2 shows modules-load.d loaded it, not the
// first-boot step or the manager's NAT).
report.capacity = guard("capacity", () => {
	const conf = read("/etc/modules-load.d/born-tuned.conf");
	const names = (conf ?? "").split("\n").map((l) => l.replace(/#.*/, "").trim()).filter(Boolean);
	return {
		subuid: read("/etc/subuid"),
		subgid: read("/etc/subgid"),
		modules_load_conf: conf,
		modules: Object.fromEntries(names.map((n) => [n, existsSync(`/sys/module/${n}`)])),
		modules_load_journal: run("journalctl", ["-b", "-u", "systemd-modules-load.service", "--no-pager", "-q", "-o", "cat"])
			.stdout.split("\n").filter(Boolean).slice(-40),
	};
});

// --- uplinks: links, addresses, default routes and bonds as the kernel has them ----------------
// compare.mjs holds them to the stack's netplan file and preseed (bonds with every member
// enslaved and up, MTUs, addresses, the bridge's MTU), beside gen verify's own rows.
report.uplinks = guard("uplinks", () => {
	const ipJson = (args) => {
		const r = run("ip", ["-j", ...args]);
		if (r.rc !== 0) throw new Error(`ip -j ${args.join(" ")}: exit ${r.rc}: ${r.stderr}`);
		return JSON.parse(r.stdout);
	};
	const links = ipJson(["-d", "link", "show"]).map((l) => ({
		ifname: l.ifname,
		mtu: l.mtu,
		operstate: l.operstate,
		master: l.master ?? null,
		address: l.address ?? null,
		permaddr: l.permaddr ?? null,
		kind: l.linkinfo?.info_kind ?? null,
		slave_kind: l.linkinfo?.info_slave_kind ?? null,
		txqlen: l.txqlen ?? null,
	}));
	const addresses = ipJson(["addr", "show"]).map((a) => ({
		ifname: a.ifname,
		addresses: (a.addr_info ?? []).filter((i) => i.scope === "global").map((i) => `${i.local}/${i.prefixlen}`),
	}));
	const routes = ipJson(["route", "show", "default"]).map((r) => ({ dev: r.dev, gateway: r.gateway ?? null }));
	const bonding = {};
	if (existsSync("/proc/net/bonding")) for (const b of readdirSync("/proc/net/bonding")) bonding[b] = read(join("/proc/net/bonding", b));
	return { links, addresses, default_routes: routes, bonding };
});

// --- failed units (the reporting unit itself is still running, so it cannot be among them) -------
report.failed_units = guard("failed_units", () =>
	run("systemctl", ["list-units", "--failed", "--plain", "--no-legend", "--no-pager"]).stdout
		.split("\n")
		.map((l) => l.trim().split(/\s+/)[0])
		.filter(Boolean));

// --- diagnostics (not compared): the boot's error-level journal, the manager's journal ------------
report.journal_errors = guard("journal", () =>
	run("journalctl", ["-b", "-p", "err", "--no-pager", "-o", "short-monotonic", "-q"]).stdout.split("\n").slice(-60));
report.manager_journal = guard("manager_journal", () =>
	manager ? run("journalctl", ["-b", "-u", `${manager}.service`, "--no-pager", "-q"]).stdout.split("\n").slice(-40) : null);

// --- a container on the generated default profile (issue 15) --------------------------------------
// Last, after everything above has looked at the host as first boot left it. A tiny image is made
// here from Debian's static busybox (busybox-static is in the guest image): metadata.yaml plus a
// rootfs whose /sbin/init brings eth0 up with udhcpc and sleeps. It is imported and launched on
// the default profile the preseed made, fresh on every boot. A provider's metadata service is
// played by a network namespace behind a veth that holds 169.254.169.254 (an HTTP listener on
// port 80 answering a marker), routed from the host, as on a cloud. The container then tries:
// the host's DNS on the bridge (a real query to dnsmasq), the metadata listener, and the host's
// SSH port on its uplink address. When the fence's table is loaded, the metadata probe is
// repeated with the table removed (the negative control: the listener must then answer) and the
// fence is put back by restarting its unit. compare.mjs judges the results.
report.container = report.light ? null : guard("container", () => containerProbe());

function containerProbe() {
	if (manager !== "lxd" && manager !== "incus") return { error: `unknown manager ${manager}` };
	const cli = manager === "lxd" ? "lxc" : "incus";
	const out = { cli, steps: [] };
	const step = (name, cmd, args, timeout) => {
		const started = Date.now();
		const r = run(cmd, args, timeout);
		out.steps.push({ name, rc: r.rc, ms: Date.now() - started, stdout: r.stdout.slice(0, 2000), stderr: r.stderr.slice(0, 2000) });
		return r;
	};
	const sh = (name, script, timeout) => step(name, "sh", ["-c", script], timeout);
	const work = "/var/lib/born-tuned-e2e-probe";
	const image = `${work}/probe.tar.gz`;
	if (!existsSync(image)) {
		const built = sh("build image", `set -eu
rm -rf ${work}/tree; mkdir -p ${work}/tree/rootfs
cd ${work}/tree/rootfs
mkdir -p bin sbin etc proc sys dev tmp run root var/run
cp /bin/busybox bin/busybox
# Only the applets init, the DHCP script and the probes use: a link per applet (~400) took ~15 s under TCG.
for a in sh ip udhcpc sleep ifconfig route nslookup nc cat head printf echo; do ln -s busybox "bin/$a"; done
cat > sbin/init <<'INIT'
#!/bin/sh
ip link set lo up
ip link set eth0 up
udhcpc -b -i eth0 -s /etc/udhcpc.script >/dev/null 2>&1
while :; do sleep 3600; done
INIT
cat > etc/udhcpc.script <<'DHCP'
#!/bin/sh
case "$1" in
bound|renew)
	ifconfig "$interface" "$ip" netmask "$subnet"
	[ -n "$router" ] && route add default gw "$router" dev "$interface"
	: > /etc/resolv.conf
	for d in $dns; do echo "nameserver $d" >> /etc/resolv.conf; done
	;;
esac
DHCP
chmod 755 sbin/init etc/udhcpc.script
echo 'root:x:0:0:root:/root:/bin/sh' > etc/passwd
echo 'root:x:0:' > etc/group
cd ${work}/tree
printf 'architecture: x86_64\\ncreation_date: 1700000000\\nproperties:\\n  description: born-tuned e2e probe (busybox)\\n  os: busybox\\n  release: probe\\n' > metadata.yaml
tar -czf ${image} metadata.yaml rootfs`);
		if (built.rc !== 0) return { ...out, error: "could not build the probe image" };
		const imported = step("import image", cli, ["image", "import", image, "--alias", "born-tuned-probe"], 300_000);
		if (imported.rc !== 0) return { ...out, error: "image import failed" };
	}
	// A fresh container every boot (the one from boot 1 is removed first).
	run(cli, ["delete", "--force", "probe"]);
	const launched = step("launch", cli, ["launch", "born-tuned-probe", "probe"], 300_000);
	if (launched.rc !== 0) return { ...out, error: "launch failed" };
	// Wait for its DHCP address.
	const launchedAt = Date.now();
	let address = null;
	for (let i = 0; i < 90 && !address; i++) {
		const r = run(cli, ["list", "probe", "--format", "json"]);
		try {
			const nets = JSON.parse(r.stdout)[0]?.state?.network?.eth0?.addresses ?? [];
			address = nets.find((a) => a.family === "inet")?.address ?? null;
		} catch {
			address = null;
		}
		if (!address) run("sleep", ["1"]);
	}
	out.address = address;
	out.address_wait_ms = Date.now() - launchedAt;
	const exec = (name, script, timeout = 60_000) => step(name, cli, ["exec", "probe", "--", "sh", "-c", script], timeout);
	out.status = run(cli, ["list", "probe", "--format", "csv", "--columns", "s"]).stdout.trim();
	out.eth0_txqueuelen = exec("eth0 txqueuelen", "cat /sys/class/net/eth0/tx_queue_len").stdout.trim();
	out.profile_nic = (() => {
		const r = run(cli, ["query", "/1.0/profiles/default"]);
		try {
			return JSON.parse(r.stdout).devices?.eth0 ?? null;
		} catch {
			return null;
		}
	})();
	// The bridge's IPv4 address: the DNS server dnsmasq answers on.
	const bridge = out.profile_nic?.network ?? out.profile_nic?.parent ?? null;
	out.bridge = bridge;
	const bridgeAddr = (() => {
		const r = run("ip", ["-j", "-4", "addr", "show", "dev", String(bridge)]);
		try {
			return JSON.parse(r.stdout)[0]?.addr_info?.[0]?.local ?? null;
		} catch {
			return null;
		}
	})();
	out.bridge_address = bridgeAddr;
	const dns = exec("dns on the bridge", `nslookup -type=a probe ${bridgeAddr}`);
	// busybox's nslookup prints the server's "Address: IP:53" too: the answer must be the container's own.
	out.dns = { rc: dns.rc, answered: !!address && dns.stdout.split("\n").some((l) => l.replace(/\s+/g, " ").trim() === `Address: ${address}`) };
	// The metadata service, played by a namespace holding 169.254.169.254.
	sh("metadata listener", `set -eu
ip netns del born-tuned-meta 2>/dev/null || true
ip link del bt-meta0 2>/dev/null || true
ip netns add born-tuned-meta
ip link add bt-meta0 type veth peer name bt-meta1
ip link set bt-meta1 netns born-tuned-meta
ip addr add 169.254.169.1/32 dev bt-meta0
ip link set bt-meta0 up
ip -n born-tuned-meta addr add 169.254.169.254/32 dev bt-meta1
ip -n born-tuned-meta link set bt-meta1 up
ip -n born-tuned-meta link set lo up
ip -n born-tuned-meta route add 169.254.169.1/32 dev bt-meta1
ip -n born-tuned-meta route add default via 169.254.169.1 dev bt-meta1
ip route replace 169.254.169.254/32 dev bt-meta0
sysctl -qw net.ipv4.conf.bt-meta0.forwarding=1
mkdir -p ${work}/meta
echo born-tuned-metadata-marker > ${work}/meta/index.html
ip netns exec born-tuned-meta busybox httpd -f -p 169.254.169.254:80 -h ${work}/meta >/dev/null 2>&1 &
# Wait for the listener (up to 60 s).
i=0
until printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 2 169.254.169.254 80 2>/dev/null | grep -q born-tuned-metadata-marker; do
	i=$((i + 1)); [ "$i" -lt 60 ] || { echo "the listener did not come up" >&2; exit 1; }
	sleep 1
done
`);
	const host = sh("host reaches metadata", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | busybox nc -w 5 169.254.169.254 80 || true");
	out.metadata_from_host = /born-tuned-metadata-marker/.test(host.stdout);
	const probeMeta = () => {
		const r = exec("container to metadata", "printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w 5 169.254.169.254 80");
		return /born-tuned-metadata-marker/.test(r.stdout);
	};
	out.metadata_reached = probeMeta();
	// The host's own management address (the uplink's IPv4) on SSH's port.
	// (the first global IPv4 address of an interface that is neither the bridge nor ours)
	const uplink = (() => {
		try {
			const links = JSON.parse(run("ip", ["-j", "-4", "addr", "show", "scope", "global"]).stdout);
			const nic = links.find((l) => l.ifname !== bridge && !/^(bt-|veth|lo)/.test(l.ifname) && l.addr_info?.length);
			return nic?.addr_info[0].local ?? null;
		} catch {
			return null;
		}
	})();
	out.uplink_address = uplink;
	const ssh = exec("container to host ssh", `nc -w 5 ${uplink} 22 </dev/null | head -c 64`);
	out.host_ssh_reached = /SSH-/.test(ssh.stdout);
	// Negative control: the same probe with the fence's table gone must reach the listener.
	const fence = run("nft", ["list", "table", "inet", "born_tuned_fence"]);
	out.fence_loaded = fence.rc === 0;
	if (out.fence_loaded) {
		step("fence removed", "nft", ["delete", "table", "inet", "born_tuned_fence"]);
		out.metadata_reached_without_fence = probeMeta();
		step("fence restored", "systemctl", ["restart", "born-tuned-fence.service"]);
		out.fence_restored = run("nft", ["list", "table", "inet", "born_tuned_fence"]).rc === 0;
	}
	sh("stop the listener", "ip netns pids born-tuned-meta | xargs -r kill; ip netns del born-tuned-meta; ip link del bt-meta0 2>/dev/null || true");
	step("stop container", cli, ["stop", "--force", "probe"], 120_000);
	return out;
}

process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
