#!/usr/bin/env node
// compare.mjs USER_DATA REPORT_JSON
//
// Host-side judge of the e2e run: compares what a booted guest reported (test/e2e/guest/report.mjs)
// with what the generated user-data promised, and prints one JSON object on stdout:
//   {"passed": N, "failed": N, "checks": [{"check": "...", "ok": true|false, "detail": "..."}]}
// Exit 0 when every check passed, 1 when one failed, 2 on bad usage or an unreadable input.
//
// Everything wanted is read from the user-data itself (write_files contents and the runcmd line
// of born-tuned-sysctl-apply), never from the profiles, so this file can be swapped for a future
// `gen verify` command. Limits are raise-only: a live value >= the wanted one passes (vectors such
// as tcp_mem component by component); keys named after the keep file on the sysctl-apply line are
// choices and must be equal. Plain JS; its only import outside node is `yaml`, already a runtime
// dependency of the project.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename } from "node:path";
import { fileURLToPath } from "node:url";
import { parse as parseYaml } from "yaml";

const SYSCTL_FILE = "/etc/sysctl.d/60-born-tuned.conf";
const PRESEED_FILE = "/etc/born-tuned/preseed.yaml";
const SYSCTL_APPLY = "born-tuned-sysctl-apply";

/** @returns {{check: string, ok: boolean, detail: string}[]} */
export function compare(userDataText, report) {
	const checks = [];
	const add = (check, ok, detail = "") => checks.push({ check, ok: Boolean(ok), detail });

	const ud = parseYaml(userDataText);
	const files = new Map((ud?.write_files ?? []).map((f) => [f.path, f]));
	const content = (path) => {
		const f = files.get(path);
		if (!f) return null;
		if (f.encoding && !/^(text\/plain)?$/.test(f.encoding)) {
			if (/^(b64|base64)$/.test(f.encoding)) return Buffer.from(f.content ?? "", "base64").toString("utf8");
			throw new Error(`${path}: encoding ${f.encoding} is not supported by compare.mjs`);
		}
		return f.content ?? "";
	};

	// --- the report itself ---------------------------------------------------------------------
	add("report: no collection errors", (report.errors ?? []).length === 0, (report.errors ?? []).join(" | "));

	// --- cloud-init ----------------------------------------------------------------------------
	const ci = report.cloud_init ?? {};
	add("cloud-init: status done", ci.status === "done", `status ${ci.status ?? "unknown"}`);
	const resultErrors = ci.result?.v1?.errors ?? (ci.result ? [] : ["no /run/cloud-init/result.json"]);
	add("cloud-init: result.json without errors", resultErrors.length === 0, resultErrors.join(" | "));
	const stageErrors = Object.entries(ci.status_json_v1?.errors ?? {}).flatMap(([s, es]) =>
		es.map((e) => `${s}: ${e}`),
	);
	add("cloud-init: no stage errors (status.json)", stageErrors.length === 0, stageErrors.join(" | "));
	add("cloud-init: this boot's part of cloud-init.log found", (ci.log_lines_this_boot ?? 0) > 0,
		`${ci.log_lines_this_boot ?? 0} lines since the last 'init-local' start`);
	const problems = ci.log_problems ?? [];
	const warnings = problems.filter((l) => /\[WARNING\]/.test(l));
	const errors = problems.filter((l) => /\[(ERROR|CRITICAL)\]/.test(l));
	add("cloud-init: no ERROR in cloud-init.log (this boot)", errors.length === 0, errors.join(" | "));
	add("cloud-init: no WARNING in cloud-init.log (this boot)", warnings.length === 0, warnings.join(" | "));

	// --- systemd: a failed unit (e.g. systemd-sysctl refusing a value at boot) fails the boot -------
	const failedUnits = report.failed_units;
	add("systemd: no failed units", Array.isArray(failedUnits) && failedUnits.length === 0,
		Array.isArray(failedUnits) ? failedUnits.join(", ") : "not reported");

	// --- every written file is there, with the promised content and mode ------------------------
	const guestFiles = new Map((report.files ?? []).map((f) => [f.path, f]));
	for (const [path, f] of files) {
		const g = guestFiles.get(path);
		const want = createHash("sha256").update(content(path), "utf8").digest("hex");
		const wantMode = f.permissions ? String(f.permissions).padStart(4, "0") : null;
		if (!g || g.type === "missing") {
			add(`file ${path}`, false, g ? "missing in the guest" : "not reported by the guest");
			continue;
		}
		const problems = [];
		if (g.sha256 !== want) problems.push(`sha256 ${g.sha256} != promised ${want}`);
		if (wantMode && g.mode !== wantMode) problems.push(`mode ${g.mode} != ${wantMode}`);
		if (f.owner && f.owner !== "root:root") problems.push(`owner ${f.owner} not checked`);
		else if (g.uid !== 0 || g.gid !== 0) problems.push(`owner ${g.uid}:${g.gid} != 0:0`);
		add(`file ${path}`, problems.length === 0, problems.join("; "));
	}

	// --- sysctl: live values ---------------------------------------------------------------------
	const sysctlText = content(SYSCTL_FILE);
	if (sysctlText !== null) {
		const exact = exactSysctlKeys(ud?.runcmd ?? []);
		const live = new Map((report.sysctl?.entries ?? []).map((e) => [e.key, e.live]));
		for (const { key, value } of parseSysctl(sysctlText)) {
			const have = live.get(key);
			const name = `sysctl ${key}`;
			if (have === undefined || have === null) {
				add(name, false, `wanted ${value}; no live value reported`);
			} else if (exact.has(key)) {
				add(name, have === value, `live ${have}, wanted exactly ${value}`);
			} else {
				add(name, raisedEnough(have, value), `live ${have}, wanted >= ${value}`);
			}
		}
	}

	// --- the daemon's limits (systemd drop-in) ----------------------------------------------------
	for (const [path] of files) {
		const m = /^\/etc\/systemd\/system\/([^/]+\.service)\.d\/[^/]+\.conf$/.exec(path);
		if (!m) continue;
		const unit = m[1];
		const d = report.daemon;
		const wanted = parseUnitLimits(content(path));
		if (!d || d.unit !== unit || !(d.pid > 0) || !d.limits) {
			add(`daemon ${unit}: running`, false,
				`reported unit ${d?.unit ?? "none"}, pid ${d?.pid ?? "none"} (${d?.props?.ActiveState ?? "?"})`);
			continue;
		}
		add(`daemon ${unit}: running`, true, `pid ${d.pid} (${d.comm})`);
		for (const [key, want] of Object.entries(wanted)) {
			const have = d.limits[key];
			const name = `daemon ${unit}: ${key}`;
			if (!have) {
				add(name, false, `wanted ${want.soft}:${want.hard}; not in /proc/${d.pid}/limits`);
				continue;
			}
			const ok = atLeast(have.soft, want.soft) && atLeast(have.hard, want.hard);
			add(name, ok, `live ${have.soft}:${have.hard}, wanted >= ${want.soft}:${want.hard}`);
		}
	}

	// --- PAM limits (limits.d), seen in a login session of root and of a regular user -------------
	for (const [path] of files) {
		if (!/^\/etc\/security\/limits\.d\/.+\.conf$/.test(path)) continue;
		for (const { domain, type, item, value } of parseLimitsConf(content(path))) {
			const who = domain === "root" ? "root" : domain === "*" ? "user" : null;
			const name = `pam ${domain} ${type} ${item}`;
			if (!who) {
				add(name, false, "compare.mjs checks only the root and * domains");
				continue;
			}
			const session = report.pam_limits?.[who];
			const have = session?.limits?.[item];
			const kinds = type === "-" ? ["soft", "hard"] : [type];
			if (!have) {
				add(name, false, `wanted ${value}; not reported (${session?.name ?? who}: ${session?.stderr || "no session"})`);
				continue;
			}
			const ok = kinds.every((k) => atLeast(have[k], value));
			add(name, ok, `${session.name}: ${kinds.map((k) => `${k} ${have[k]}`).join(", ")}, wanted >= ${value}`);
		}
	}

	// --- txqueuelen (udev rules) -------------------------------------------------------------------
	for (const [path] of files) {
		if (!/^\/etc\/udev\/rules\.d\/.+\.rules$/.test(path)) continue;
		for (const { pattern, txq } of parseTxqRules(content(path))) {
			const re = udevGlob(pattern);
			const matched = (report.net ?? []).filter((n) => re.test(n.name));
			const name = `txqueuelen ${pattern}`;
			if (matched.length === 0) {
				add(name, false, `wanted ${txq}; no interface matches (have ${(report.net ?? []).map((n) => n.name).join(", ")})`);
				continue;
			}
			const low = matched.filter((n) => !(n.tx_queue_len >= txq));
			add(name, low.length === 0,
				`${matched.map((n) => `${n.name}=${n.tx_queue_len}`).join(", ")}; wanted >= ${txq}`);
		}
	}

	// --- hidden instance names (tmpfiles z lines) ---------------------------------------------------
	for (const [path] of files) {
		if (!/^\/etc\/tmpfiles\.d\/.+\.conf$/.test(path)) continue;
		for (const line of content(path).split("\n")) {
			const m = /^\s*z\s+(\S+)\s+([0-7]{3,4})\b/.exec(line);
			if (!m) continue;
			const [, p, mode] = m;
			const want = mode.padStart(4, "0");
			const name = `mode ${p}`;
			if (!report.modes || !(p in report.modes)) add(name, false, "not reported");
			else if (report.modes[p] === null) add(name, true, "absent on this kernel (tmpfiles skips it)");
			else add(name, report.modes[p] === want, `live ${report.modes[p]}, wanted ${want}`);
		}
	}

	// --- preseed applied ----------------------------------------------------------------------------
	const preseedText = content(PRESEED_FILE);
	if (preseedText !== null) checkPreseed(parseYaml(preseedText) ?? {}, report.preseed ?? {}, add);

	return checks;
}

function checkPreseed(preseed, live, add) {
	const list = (v) => (Array.isArray(v) ? v : []);
	const liveErr = (v) => (v && !Array.isArray(v) && v.error ? v.error : null);
	for (const pool of list(preseed.storage_pools)) {
		const name = `preseed storage pool ${pool.name}`;
		const err = liveErr(live.storage_pools);
		if (err) {
			add(name, false, err);
			continue;
		}
		const l = list(live.storage_pools).find((p) => p.name === pool.name);
		if (!l) add(name, false, "missing");
		else {
			const diff = [...(pool.driver && l.driver !== pool.driver ? [`driver ${l.driver} != ${pool.driver}`] : []),
				...subsetDiff(pool.config, l.config, "config")];
			add(name, diff.length === 0, diff.join("; ") || `driver ${l.driver}, status ${l.status}`);
		}
	}
	for (const net of list(preseed.networks)) {
		const name = `preseed network ${net.name}`;
		const err = liveErr(live.networks);
		if (err) {
			add(name, false, err);
			continue;
		}
		const l = list(live.networks).find((n) => n.name === net.name);
		if (!l) add(name, false, "missing");
		else {
			const diff = [...(net.type && l.type !== net.type ? [`type ${l.type} != ${net.type}`] : []),
				...(l.managed === false ? ["not managed"] : []),
				...subsetDiff(net.config, l.config, "config")];
			add(name, diff.length === 0, diff.join("; ") || `${l.type}, status ${l.status}`);
		}
	}
	for (const prof of list(preseed.profiles)) {
		const name = `preseed profile ${prof.name}`;
		if (prof.name !== "default") {
			add(name, false, "only the default profile is reported by the guest");
			continue;
		}
		const l = live.profile_default;
		if (!l || l.error) {
			add(name, false, l?.error ?? "not reported");
			continue;
		}
		const diff = [...subsetDiff(prof.config, l.config, "config")];
		for (const [dev, conf] of Object.entries(prof.devices ?? {})) {
			if (!l.devices?.[dev]) diff.push(`device ${dev} missing`);
			else diff.push(...subsetDiff(conf, l.devices[dev], `device ${dev}`));
		}
		add(name, diff.length === 0, diff.join("; ") || `devices ${Object.keys(l.devices ?? {}).join(", ")}`);
	}
}

function subsetDiff(want, have, what) {
	const out = [];
	for (const [k, v] of Object.entries(want ?? {})) {
		const h = have?.[k];
		if (h === undefined) out.push(`${what} ${k} missing (wanted ${v})`);
		else if (String(h) !== String(v)) out.push(`${what} ${k} = ${h}, wanted ${v}`);
	}
	return out;
}

export function parseSysctl(text) {
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

/** Keys after CONF and KEEP_FILE on the born-tuned-sysctl-apply runcmd line. */
function exactSysctlKeys(runcmd) {
	for (const c of runcmd) {
		const argv = Array.isArray(c) ? c.map(String) : String(c).split(/\s+/);
		const i = argv.findIndex((a) => basename(a) === SYSCTL_APPLY);
		if (i >= 0) return new Set(argv.slice(i + 3));
	}
	return new Set();
}

/** Every component of `have` >= the same component of `want` (numbers); else string equality. */
export function raisedEnough(have, want) {
	const h = have.split(" ");
	const w = want.split(" ");
	if (h.length !== w.length) return false;
	return w.every((x, i) => {
		const a = Number(h[i]);
		const b = Number(x);
		return Number.isFinite(a) && Number.isFinite(b) ? a >= b : h[i] === x;
	});
}

const UNLIMITED = new Set(["unlimited", "infinity"]);
function atLeast(have, want) {
	if (UNLIMITED.has(String(have))) return true;
	if (UNLIMITED.has(String(want))) return false;
	return Number(have) >= Number(want);
}

/** [Service] Limit*= of a unit drop-in, as {nofile|memlock|nproc: {soft, hard}}. */
export function parseUnitLimits(text) {
	const keys = { LimitNOFILE: "nofile", LimitMEMLOCK: "memlock", LimitNPROC: "nproc" };
	const out = {};
	for (const line of text.split("\n")) {
		const m = /^\s*(Limit[A-Z]+)\s*=\s*(\S+)\s*$/.exec(line);
		if (!m || !keys[m[1]]) continue;
		const [soft, hard = soft] = m[2].split(":");
		// LimitMEMLOCK is in bytes in a unit; /proc/PID/limits shows bytes too.
		out[keys[m[1]]] = { soft: normalizeLimit(soft), hard: normalizeLimit(hard) };
	}
	return out;
}

function normalizeLimit(v) {
	if (UNLIMITED.has(v)) return "unlimited";
	const m = /^(\d+)([KMGTPE]?)$/.exec(v);
	if (!m) return v;
	const mult = { "": 1, K: 1024, M: 1024 ** 2, G: 1024 ** 3, T: 1024 ** 4, P: 1024 ** 5, E: 1024 ** 6 }[m[2]];
	return String(Number(m[1]) * mult);
}

/** limits.conf lines "domain type item value" (nofile, memlock, nproc only: what a session shows). */
export function parseLimitsConf(text) {
	const out = [];
	for (const line of text.split("\n")) {
		const t = line.replace(/#.*/, "").trim();
		if (!t) continue;
		const [domain, type, item, value] = t.split(/\s+/);
		if (["nofile", "memlock", "nproc"].includes(item)) out.push({ domain, type, item, value });
	}
	return out;
}

/** KERNEL=="glob" (or NAME=="glob") rules setting ATTR{tx_queue_len}, one entry per glob. */
export function parseTxqRules(text) {
	const out = new Map();
	for (const line of text.split("\n")) {
		if (/^\s*#/.test(line)) continue;
		const txq = /ATTR\{tx_queue_len\}="(\d+)"/.exec(line);
		const pat = /(?:^|[\s,])(?:KERNEL|NAME)=="([^"]+)"/.exec(line);
		if (txq && pat) out.set(pat[1], Math.max(out.get(pat[1]) ?? 0, Number(txq[1])));
	}
	return [...out].map(([pattern, txq]) => ({ pattern, txq }));
}

/** udev's glob: alternatives with |, *, ?, [...]. */
export function udevGlob(pattern) {
	const alt = pattern.split("|").map((p) =>
		p.replace(/[.+^${}()\\]/g, "\\$&").replace(/\*/g, ".*").replace(/\?/g, "."),
	);
	return new RegExp(`^(?:${alt.join("|")})$`);
}

// --- CLI ------------------------------------------------------------------------------------------
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
	const [userData, reportPath] = process.argv.slice(2);
	if (!userData || !reportPath) {
		process.stderr.write("usage: compare.mjs USER_DATA REPORT_JSON\n");
		process.exit(2);
	}
	let checks;
	try {
		checks = compare(readFileSync(userData, "utf8"), JSON.parse(readFileSync(reportPath, "utf8")));
	} catch (e) {
		process.stderr.write(`compare.mjs: ${e.stack ?? e}\n`);
		process.exit(2);
	}
	const failed = checks.filter((c) => !c.ok).length;
	process.stdout.write(`${JSON.stringify({ passed: checks.length - failed, failed, checks }, null, 1)}\n`);
	process.exit(failed > 0 ? 1 : 0);
}
