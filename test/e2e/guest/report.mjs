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
import { existsSync, readdirSync, readFileSync } from "node:fs";
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

function guard(name, fn) {
	try {
		return fn();
	} catch (e) {
		report.errors.push(`${name}: ${e.stack ?? e}`);
		return null;
	}
}

const cmdline = read("/proc/cmdline") ?? "";
const manager = /(?:^|\s)born_tuned_e2e\.manager=(\S+)/.exec(cmdline)?.[1] ?? null;
report.manager = manager;
report.boot_id = (read("/proc/sys/kernel/random/boot_id") ?? "").trim();
report.kernel = (read("/proc/sys/kernel/osrelease") ?? "").trim();
report.uptime_s = Number((read("/proc/uptime") ?? "0").split(" ")[0]);
report.cmdline = cmdline.trim();

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

// gen verify --format json from the seed, as {argv, profiles, rc, ms, stderr, result}.
function runVerify() {
	const seed = process.env.BORN_TUNED_E2E_SEED;
	if (!seed) return { error: "the seed is not mounted (see the serial log)" };
	const root = join(seed, "born-tuned");
	const stack = (read(join(root, "stack")) ?? "").split("\n").map((l) => l.trim()).filter(Boolean);
	if (stack.length === 0) return { error: `no profiles in ${join(root, "stack")}` };
	const argv = [join(root, "dist/gen.js"), "verify", "--profiles-dir", join(root, "e2e-profiles"),
		...stack.flatMap((p) => ["--profile", p]), "--format", "json"];
	const started = Date.now();
	const r = run("/usr/local/bin/node", argv);
	const ms = Date.now() - started;
	let result = null;
	try {
		result = JSON.parse(r.stdout);
	} catch {
		result = null;
	}
	return {
		argv: ["node", ...argv],
		profiles: stack,
		rc: r.rc,
		ms,
		stderr: r.stderr.slice(0, 4000),
		result,
		...(result ? {} : { stdout: r.stdout.slice(0, 4000) }),
	};
}

// --- gen verify, from the seed (the CLI under test is on the NoCloud ISO, not in the image) --------
// The judge of the profile's settings. The seed's born-tuned/stack names the profiles, one per line.
report.verify = guard("verify", runVerify);

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

process.stdout.write(`${JSON.stringify(report, null, 1)}\n`);
