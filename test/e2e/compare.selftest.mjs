#!/usr/bin/env node
// compare.selftest.mjs: offline negative controls for compare.mjs (< 1 s, no VM). Takes a real
// guest report recorded by boot.sh (test/e2e/fixtures/STACK/{user-data,report-1.json,report-2.json}),
// checks that it passes as recorded, then breaks one thing at a time and checks that exactly the
// expected check fails. boot.sh runs it before booting anything. Exit 1 on any surprise.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { compare } from "./compare.mjs";

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, "fixtures");
let bad = 0;
let ran = 0;

const failing = (ud, rep) =>
	compare(ud, rep)
		.filter((c) => !c.ok)
		.map((c) => c.check);

function expect(name, ud, rep, mutate, wantFailing) {
	ran++;
	const r = structuredClone(rep);
	mutate(r);
	const got = failing(ud, r);
	const ok = got.length === wantFailing.length && wantFailing.every((w) => got.includes(w));
	if (!ok) {
		bad++;
		console.error(`FAIL ${name}: failing checks ${JSON.stringify(got)}, expected ${JSON.stringify(wantFailing)}`);
	}
}

const sysctl = (r, key) => r.sysctl.entries.find((e) => e.key === key);

for (const stack of readdirSync(fixtures).sort()) {
	const dir = join(fixtures, stack);
	const ud = readFileSync(join(dir, "user-data"), "utf8");
	for (const f of readdirSync(dir).filter((f) => /^report-\d\.json$/.test(f))) {
		const rep = JSON.parse(readFileSync(join(dir, f), "utf8"));
		const t = `${stack}/${f}`;
		const m = rep.manager;
		const unit = `${m}.service`;
		const bridge = rep.preseed.networks.find((n) => n.managed && n.type === "bridge")?.name;
		const hasTxq = /tx_queue_len/.test(ud);

		expect(`${t} as recorded`, ud, rep, () => {}, []);
		expect(`${t} raise-only: higher live values pass`, ud, rep, (r) => {
			sysctl(r, "vm.max_map_count").live = "1048576";
			sysctl(r, "fs.aio-max-nr").live = "1048576";
		}, []);
		expect(`${t} sysctl lower`, ud, rep, (r) => {
			sysctl(r, "vm.max_map_count").live = "65530";
		}, ["sysctl vm.max_map_count"]);
		expect(`${t} sysctl missing live`, ud, rep, (r) => {
			sysctl(r, "fs.inotify.max_user_instances").live = null;
		}, ["sysctl fs.inotify.max_user_instances"]);
		expect(`${t} exact key higher`, ud, rep, (r) => {
			sysctl(r, "kernel.dmesg_restrict").live = "2";
		}, ["sysctl kernel.dmesg_restrict"]);
		if (sysctl(rep, "net.ipv4.tcp_mem")) {
			expect(`${t} one tcp_mem component lower`, ud, rep, (r) => {
				sysctl(r, "net.ipv4.tcp_mem").live = "182757 243679 300000";
			}, ["sysctl net.ipv4.tcp_mem"]);
		}
		expect(`${t} cloud-init not done`, ud, rep, (r) => {
			r.cloud_init.status = "running";
		}, ["cloud-init: status done"]);
		expect(`${t} cloud-init error`, ud, rep, (r) => {
			r.cloud_init.result.v1.errors = ["('scripts_user', RuntimeError('Runparts: 1 failures'))"];
		}, ["cloud-init: result.json without errors"]);
		expect(`${t} cloud-init warning`, ud, rep, (r) => {
			r.cloud_init.log_problems = ["2026-01-01 00:00:00,000 - util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/runcmd [1]"];
		}, ["cloud-init: no WARNING in cloud-init.log (this boot)"]);
		expect(`${t} a failed unit`, ud, rep, (r) => {
			r.failed_units = ["systemd-sysctl.service"];
		}, ["systemd: no failed units"]);
		expect(`${t} file content changed`, ud, rep, (r) => {
			r.files.find((x) => x.path === "/etc/sysctl.d/60-born-tuned.conf").sha256 = "0".repeat(64);
		}, ["file /etc/sysctl.d/60-born-tuned.conf"]);
		expect(`${t} preseed mode`, ud, rep, (r) => {
			r.files.find((x) => x.path === "/etc/born-tuned/preseed.yaml").mode = "0644";
		}, ["file /etc/born-tuned/preseed.yaml"]);
		expect(`${t} daemon memlock 8 MiB`, ud, rep, (r) => {
			r.daemon.limits.memlock = { soft: "8388608", hard: "8388608", unit: "bytes" };
		}, [`daemon ${unit}: memlock`]);
		expect(`${t} daemon nofile soft 1024`, ud, rep, (r) => {
			r.daemon.limits.nofile.soft = "1024";
		}, [`daemon ${unit}: nofile`]);
		expect(`${t} daemon not running`, ud, rep, (r) => {
			r.daemon.pid = 0;
			r.daemon.limits = null;
		}, [`daemon ${unit}: running`]);
		expect(`${t} root session nofile 1024`, ud, rep, (r) => {
			r.pam_limits.root.limits.nofile.soft = "1024";
		}, ["pam root soft nofile"]);
		expect(`${t} user session memlock 8192`, ud, rep, (r) => {
			r.pam_limits.user.limits.memlock = { soft: "8192", hard: "8192" };
		}, ["pam * soft memlock", "pam * hard memlock"]);
		expect(`${t} slab readable`, ud, rep, (r) => {
			r.modes["/sys/kernel/slab"] = "0755";
		}, ["mode /sys/kernel/slab"]);
		expect(`${t} sched_debug present and readable`, ud, rep, (r) => {
			r.modes["/proc/sched_debug"] = "0444";
		}, ["mode /proc/sched_debug"]);
		expect(`${t} pool missing`, ud, rep, (r) => {
			r.preseed.storage_pools = [];
		}, ["preseed storage pool default"]);
		expect(`${t} bridge address differs`, ud, rep, (r) => {
			r.preseed.networks.find((n) => n.name === bridge).config["ipv4.address"] = "10.0.0.1/24";
		}, [`preseed network ${bridge}`]);
		expect(`${t} default profile lacks eth0`, ud, rep, (r) => {
			delete r.preseed.profile_default.devices.eth0;
		}, ["preseed profile default"]);
		expect(`${t} manager CLI failed`, ud, rep, (r) => {
			r.preseed.networks = { error: "lxc query: rc 1" };
		}, [`preseed network ${bridge}`]);
		if (hasTxq) {
			expect(`${t} NIC txqueuelen 1000`, ud, rep, (r) => {
				r.net.find((n) => n.device && /^en/.test(n.name)).tx_queue_len = 1000;
			}, ["txqueuelen en*"]);
			expect(`${t} bridge absent`, ud, rep, (r) => {
				r.net = r.net.filter((n) => n.name !== bridge);
			}, [`txqueuelen ${bridge}`]);
		}
	}
}

if (ran === 0) {
	console.error("compare.selftest: no fixtures under test/e2e/fixtures");
	process.exit(1);
}
console.log(`compare.selftest: ${ran - bad} of ${ran} negative controls behaved`);
process.exit(bad > 0 ? 1 : 0);
