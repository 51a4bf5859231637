#!/usr/bin/env node
// compare.selftest.mjs: offline negative controls for compare.mjs (< 1 s, no VM). Takes real guest
// reports recorded by boot.sh (test/e2e/fixtures/STACK/{limits.conf,report-1.json,report-2.json},
// limits.conf being the stack's limits.d file), checks that each passes as recorded, then breaks one
// thing at a time and checks that exactly the expected checks fail. boot.sh runs it before booting
// anything. Exit 1 on any surprise.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compare } from "./compare.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "fixtures");
let bad = 0;
let ran = 0;

const failing = (limits, rep) =>
	compare(limits, rep)
		.filter((c) => !c.ok)
		.map((c) => c.check);

function expect(name, limits, rep, mutate, wantFailing) {
	ran++;
	const r = structuredClone(rep);
	mutate(r);
	const got = failing(limits, r);
	const ok = got.length === wantFailing.length && wantFailing.every((w) => got.includes(w));
	if (!ok) {
		bad++;
		console.error(`FAIL ${name}: failing checks ${JSON.stringify(got)}, expected ${JSON.stringify(wantFailing)}`);
	}
}

const row = (r, check) => {
	const x = r.verify.result.rows.find((y) => y.check === check);
	if (!x) throw new Error(`fixture has no verify row ${check}`);
	return x;
};

for (const stack of readdirSync(fixtures).sort()) {
	const dir = join(fixtures, stack);
	const limits = readFileSync(join(dir, "limits.conf"), "utf8");
	for (const f of readdirSync(dir).filter((f) => /^report-\d\.json$/.test(f))) {
		const rep = JSON.parse(readFileSync(join(dir, f), "utf8"));
		const t = `${stack}/${f}`;
		const bridgeRow = rep.verify.result.rows.find((x) => /^txqueuelen bridge /.test(x.check));

		expect(`${t} as recorded`, limits, rep, () => {}, []);
		// gen verify's rows: the judge of the profile's settings.
		expect(`${t} a verify row FAIL`, limits, rep, (r) => {
			Object.assign(row(r, "sysctl vm.max_map_count"), { status: "FAIL", actual: "65530" });
			r.verify.rc = 1;
		}, ["verify: sysctl vm.max_map_count"]);
		expect(`${t} ABSENT: kernel lacks a sysctl key`, limits, rep, (r) => {
			Object.assign(row(r, "sysctl fs.aio-max-nr"), { status: "ABSENT", actual: "-", note: "this kernel has no such key" });
		}, ["verify: sysctl fs.aio-max-nr"]);
		expect(`${t} ABSENT: daemon not running`, limits, rep, (r) => {
			Object.assign(row(r, "daemon limit nofile"), { status: "ABSENT", actual: "-", note: `${r.manager} daemon not running` });
		}, ["verify: daemon limit nofile"]);
		expect(`${t} ABSENT: no manager to ask`, limits, rep, (r) => {
			const x = r.verify.result.rows.find((y) => / storage pool /.test(y.check));
			Object.assign(x, { status: "ABSENT", actual: "-", note: "no live manager to ask (--root, or its client is missing)" });
		}, [`verify: ${rep.verify.result.rows.find((y) => / storage pool /.test(y.check)).check}`]);
		expect(`${t} ABSENT: a path this kernel lacks passes`, limits, rep, (r) => {
			Object.assign(row(r, "mode /sys/kernel/slab"), { status: "ABSENT", actual: "-", note: "this kernel has no such path" });
		}, []);
		expect(`${t} /proc/sched_debug present with mode 0444`, limits, rep, (r) => {
			Object.assign(row(r, "mode /proc/sched_debug"), { status: "FAIL", actual: "0444", note: undefined });
			r.verify.rc = 1;
		}, ["verify: mode /proc/sched_debug"]);
		if (bridgeRow) {
			expect(`${t} ABSENT: bridge missing`, limits, rep, (r) => {
				Object.assign(row(r, bridgeRow.check), { status: "ABSENT", actual: "-", note: "no device matches x" });
			}, [`verify: ${bridgeRow.check}`]);
		}
		expect(`${t} verify exit 1 with no FAIL row`, limits, rep, (r) => {
			r.verify.rc = 1;
		}, ["gen verify: exit status"]);
		expect(`${t} verify did not run`, limits, rep, (r) => {
			r.verify = { error: "the seed is not mounted" };
		}, ["gen verify: ran in the guest"]);
		expect(`${t} verify crashed`, limits, rep, (r) => {
			r.verify = { rc: 2, stderr: "boom", result: null, stdout: "" };
		}, ["gen verify: ran in the guest"]);
		expect(`${t} verify with no rows`, limits, rep, (r) => {
			r.verify.result.rows = [];
		}, ["gen verify: ran in the guest"]);
		// What verify does not look at.
		expect(`${t} cloud-init not done`, limits, rep, (r) => {
			r.cloud_init.status = "running";
		}, ["cloud-init: status done"]);
		expect(`${t} cloud-init error`, limits, rep, (r) => {
			r.cloud_init.result.v1.errors = ["('scripts_user', RuntimeError('Runparts: 1 failures'))"];
		}, ["cloud-init: result.json without errors"]);
		expect(`${t} cloud-init warning`, limits, rep, (r) => {
			r.cloud_init.log_problems = ["2026-01-01 00:00:00,000 - util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/runcmd [1]"];
		}, ["cloud-init: no WARNING in cloud-init.log (this boot)"]);
		expect(`${t} a failed unit`, limits, rep, (r) => {
			r.failed_units = ["systemd-sysctl.service"];
		}, ["systemd: no failed units"]);
		expect(`${t} report collection error`, limits, rep, (r) => {
			r.errors = ["net: boom"];
		}, ["report: no collection errors"]);
		expect(`${t} root session nofile 1024`, limits, rep, (r) => {
			r.pam_limits.root.limits.nofile.soft = "1024";
		}, ["pam root soft nofile"]);
		expect(`${t} user session memlock 8192`, limits, rep, (r) => {
			r.pam_limits.user.limits.memlock = { soft: "8192", hard: "8192" };
		}, ["pam * soft memlock", "pam * hard memlock"]);
	}
}

if (ran === 0) {
	console.error("compare.selftest: no fixtures under test/e2e/fixtures");
	process.exit(1);
}
console.log(`compare.selftest: ${ran - bad} of ${ran} negative controls behaved`);
process.exit(bad > 0 ? 1 : 0);
