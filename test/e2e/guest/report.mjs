// born-tuned e2e guest report: prints one JSON object on stdout describing the live state of this
// host after cloud-init. Runs inside the guest with the node binary copied into the image; only
// node builtins. It reports facts and does not judge them, except that it runs the CLI under test,
// `gen verify --format json`, from the mounted seed (BORN_TUNED_E2E_SEED) and includes its output:
// test/e2e/compare.mjs on the host side judges the report (gen verify's rows for the profile's
// settings, plus cloud-init, failed units and PAM sessions).
//
// The manager (lxd or incus) comes from the kernel command line (born_tuned_e2e.manager=NAME,
// set by boot.sh). Its CLI is queried before the daemon's limits and the network devices are read:
// Incus (and LXD) may be socket-activated on later boots, and their bridge exists only once the
// daemon runs.
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { existsSync, lstatSync, readFileSync, readdirSync, readlinkSync, statSync } from "node:fs";
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
	const problems = thisBoot.filter((l) => /\[(WARNING|ERROR|CRITICAL)\]/.test(l));
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
			? { stage: statusJson.v1.stage, errors: collectStageErrors(statusJson.v1) }
			: null,
		log_lines_this_boot: thisBoot.length,
		log_problems: problems,
		scripts_user: scriptsUser,
		instance_id: instanceId,
		output_tail: output.slice(-60),
	};
});

function collectStageErrors(v1) {
	const out = {};
	for (const [stage, v] of Object.entries(v1)) {
		if (v && typeof v === "object" && Array.isArray(v.errors)) out[stage] = v.errors;
	}
	return out;
}

// --- sysctl -------------------------------------------------------------------------------------
function sysctlLive(key) {
	const v = read(join("/proc/sys", key.replace(/\./g, "/")));
	return v === null ? null : v.trim().split(/\s+/).join(" ");
}

function parseSysctlFile(text) {
	const out = [];
	for (const line of text.split("\n")) {
		const t = line.trim();
		if (t === "" || t.startsWith("#") || t.startsWith(";")) continue;
		const eq = t.indexOf("=");
		if (eq < 0) continue;
		out.push({ key: t.slice(0, eq).trim(), value: t.slice(eq + 1).trim().split(/\s+/).join(" ") });
	}
	return out;
}

report.sysctl = guard("sysctl", () => {
	const conf = read("/etc/sysctl.d/60-born-tuned.conf");
	const keep = read("/etc/sysctl.d/61-born-tuned-keep-higher.conf");
	return {
		conf_present: conf !== null,
		entries: conf === null ? [] : parseSysctlFile(conf).map((e) => ({ ...e, live: sysctlLive(e.key) })),
		keep_higher: keep,
	};
});

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

// Diagnostic only, not judged: `gen verify` as an operator would run it right after login, before
// anything has used the manager (on a later boot a socket-activated daemon is not running yet).
report.verify_cold = guard("verify_cold", runVerify);

// --- the manager: preseed state (this also activates a socket-activated daemon) ------------------
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

// --- the daemon's limits ------------------------------------------------------------------------
function parseLimits(text) {
	const want = { "Max open files": "nofile", "Max locked memory": "memlock", "Max processes": "nproc" };
	const out = {};
	for (const line of text.split("\n")) {
		for (const [label, key] of Object.entries(want)) {
			if (line.startsWith(label)) {
				const [soft, hard, unit] = line.slice(label.length).trim().split(/\s+/);
				out[key] = { soft, hard, unit: unit ?? null };
			}
		}
	}
	return out;
}

report.daemon = guard("daemon", () => {
	if (!manager) return null;
	const unit = `${manager}.service`;
	const show = run("systemctl", ["show", unit, "-p", "MainPID", "-p", "ActiveState", "-p", "DropInPaths",
		"-p", "LimitNOFILE", "-p", "LimitMEMLOCK", "-p", "NRestarts", "-p", "ExecMainStartTimestamp"]);
	const props = Object.fromEntries(
		show.stdout.split("\n").filter(Boolean).map((l) => [l.slice(0, l.indexOf("=")), l.slice(l.indexOf("=") + 1)]),
	);
	const pid = Number(props.MainPID ?? 0);
	const limitsText = pid > 0 ? read(`/proc/${pid}/limits`) : null;
	const comm = pid > 0 ? (read(`/proc/${pid}/comm`) ?? "").trim() : null;
	return {
		unit,
		pid,
		comm,
		props,
		limits: limitsText ? parseLimits(limitsText) : null,
	};
});

// --- gen verify, from the seed (the CLI under test is on the NoCloud ISO, not in the image) --------
// Judged: after the manager was queried above, so a socket-activated daemon is running and its
// /proc/PID/limits can be read. The seed's born-tuned/stack names the profiles, one per line.
report.verify = guard("verify", runVerify);

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

// --- network devices ----------------------------------------------------------------------------
report.net = guard("net", () =>
	readdirSync("/sys/class/net")
		.sort()
		.map((name) => {
			const base = `/sys/class/net/${name}`;
			const txq = read(`${base}/tx_queue_len`);
			return {
				name,
				tx_queue_len: txq === null ? null : Number(txq.trim()),
				bridge: existsSync(`${base}/bridge`),
				device: existsSync(`${base}/device`),
			};
		}),
);

// --- modes of the files that list instance names ------------------------------------------------
report.modes = guard("modes", () => {
	const out = {};
	for (const p of ["/proc/sched_debug", "/sys/kernel/slab", "/sys/kernel/debug/sched/debug"]) {
		try {
			out[p] = (statSync(p).mode & 0o7777).toString(8).padStart(4, "0");
		} catch {
			out[p] = null;
		}
	}
	return out;
});

// --- files --------------------------------------------------------------------------------------
function describe(path) {
	const st = lstatSync(path);
	const base = { path, mode: (st.mode & 0o7777).toString(8).padStart(4, "0"), uid: st.uid, gid: st.gid };
	if (st.isSymbolicLink()) return { ...base, type: "symlink", target: readlinkSync(path) };
	if (st.isDirectory()) return { ...base, type: "dir" };
	const data = readFileSync(path);
	return { ...base, type: "file", size: data.length, sha256: createHash("sha256").update(data).digest("hex") };
}

function walk(dir, out) {
	let entries;
	try {
		entries = readdirSync(dir, { withFileTypes: true });
	} catch {
		return;
	}
	for (const e of entries.sort((a, b) => a.name.localeCompare(b.name))) {
		const p = join(dir, e.name);
		if (e.isDirectory()) walk(p, out);
		else out.push(describe(p));
	}
}

report.files = guard("files", () => {
	const out = [];
	const dirs = ["/etc/sysctl.d", "/etc/security/limits.d", "/etc/tmpfiles.d", "/etc/udev/rules.d",
		"/etc/systemd/network", "/etc/born-tuned"];
	for (const e of readdirSync("/etc/systemd/system", { withFileTypes: true })) {
		if (e.isDirectory() && e.name.endsWith(".d")) dirs.push(join("/etc/systemd/system", e.name));
	}
	for (const d of dirs.sort()) walk(d, out);
	// Every path the user-data's write_files names, wherever it is (cloud-init's merged
	// cloud-config, parsed with the python3-yaml that cloud-init itself depends on).
	const wf = run("python3", ["-c",
		"import json, sys, yaml\n" +
		"d = yaml.safe_load(open(sys.argv[1])) or {}\n" +
		"print(json.dumps([f.get('path') for f in (d.get('write_files') or [])]))",
		"/var/lib/cloud/instance/cloud-config.txt"]);
	if (wf.rc !== 0) throw new Error(`write_files paths: ${wf.stderr}`);
	const seen = new Set(out.map((f) => f.path));
	for (const p of JSON.parse(wf.stdout)) {
		if (typeof p !== "string" || seen.has(p)) continue;
		seen.add(p);
		out.push(existsSync(p) ? describe(p) : { path: p, type: "missing" });
	}
	return out;
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
