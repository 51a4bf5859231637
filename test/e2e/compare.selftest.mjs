#!/usr/bin/env node
// compare.selftest.mjs: offline negative controls for compare.mjs (< 1 s, no VM). Takes real guest
// reports recorded by boot.sh (test/e2e/fixtures/STACK/{limits.conf,sysctl.wanted,report-1.json,
// report-2.json}, limits.conf being the stack's limits.d file and sysctl.wanted its wanted sysctls), checks that each passes as recorded, then breaks one
// thing at a time and checks that exactly the expected checks fail. boot.sh runs it before booting
// anything. Exit 1 on any surprise.
import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ABSENT_OK_NOTE, compare, compareStorage, sysctlModes } from './compare.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures');
let bad = 0;
let ran = 0;

let modes = new Map();
const failing = (limits, rep, seeded) =>
  compare(limits, rep, seeded, modes)
    .filter((c) => !c.ok)
    .map((c) => c.check);

/** `mutate` may change the report and, through its second argument, what boot.sh seeded. */
function expect(name, limits, rep, seeded, mutate, wantFailing) {
  ran++;
  const r = structuredClone(rep);
  const s = { ...seeded };
  mutate(r, s);
  const got = failing(limits, r, s);
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
  const limits = readFileSync(join(dir, 'limits.conf'), 'utf8');
  modes = sysctlModes(readFileSync(join(dir, 'sysctl.wanted'), 'utf8'));
  const first = JSON.parse(readFileSync(join(dir, 'report-1.json'), 'utf8'));
  for (const f of readdirSync(dir).filter((f) => /^report-\d\.json$/.test(f))) {
    const rep = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const t = `${stack}/${f}`;
    const bridgeRow = rep.verify.result.rows.find((x) => /^txqueuelen bridge /.test(x.check));
    const poolRow = rep.verify.result.rows.find((y) => / storage pool /.test(y.check));
    // What boot.sh seeded for this recorded run.
    const boot = Number(/report-(\d)/.exec(f)[1]);
    const seeded = { instanceId: first.cloud_init.instance_id, stack: stack.replace(/^baked-/, ''), boot, firstBootId: first.boot_id };
    const expectHere = (name, mutate, wantFailing) => expect(`${t} ${name}`, limits, rep, seeded, mutate, wantFailing);

    expectHere(`as recorded`, () => {}, []);
    // gen verify's rows: the judge of the profile's settings.
    expectHere(
      `a verify row FAIL`,
      (r) => {
        Object.assign(row(r, 'sysctl vm.max_map_count'), { status: 'FAIL', actual: '65530' });
        r.verify.rc = 1;
      },
      ['verify: sysctl vm.max_map_count'],
    );
    expectHere(
      `ABSENT: kernel lacks a sysctl key`,
      (r) => {
        Object.assign(row(r, 'sysctl fs.aio-max-nr'), { status: 'ABSENT', actual: '-', note: 'this kernel has no such key' });
      },
      ['verify: sysctl fs.aio-max-nr'],
    );
    expectHere(
      `ABSENT: daemon not running`,
      (r) => {
        Object.assign(row(r, 'daemon limit nofile'), { status: 'ABSENT', actual: '-', note: `${r.manager} daemon not running` });
      },
      ['verify: daemon limit nofile'],
    );
    expectHere(
      `ABSENT: no manager to ask`,
      (r) => {
        Object.assign(row(r, poolRow.check), {
          status: 'ABSENT',
          actual: '-',
          note: 'no live manager to ask (--root, or its client is missing)',
        });
      },
      [`verify: ${poolRow.check}`],
    );
    expectHere(
      `ABSENT: a path this kernel lacks passes`,
      (r) => {
        Object.assign(row(r, 'mode /sys/kernel/slab'), { status: 'ABSENT', actual: '-', note: ABSENT_OK_NOTE });
      },
      [],
    );
    expectHere(
      `/proc/sched_debug present with mode 0444`,
      (r) => {
        Object.assign(row(r, 'mode /proc/sched_debug'), { status: 'FAIL', actual: '0444', note: undefined });
        r.verify.rc = 1;
      },
      ['verify: mode /proc/sched_debug'],
    );
    if (bridgeRow) {
      expectHere(
        `ABSENT: bridge missing`,
        (r) => {
          Object.assign(row(r, bridgeRow.check), { status: 'ABSENT', actual: '-', note: 'no device matches x' });
        },
        [`verify: ${bridgeRow.check}`],
      );
    }
    expectHere(
      `verify exit 1 with no FAIL row`,
      (r) => {
        r.verify.rc = 1;
      },
      ['gen verify: exit status'],
    );
    expectHere(
      `verify did not run`,
      (r) => {
        r.verify = { error: 'the seed is not mounted' };
      },
      ['gen verify: ran in the guest', 'harness: gen verify checked this stack'],
    );
    expectHere(
      `verify crashed`,
      (r) => {
        r.verify = { rc: 2, stderr: 'boom', result: null, stdout: '' };
      },
      ['gen verify: ran in the guest', 'harness: gen verify checked this stack'],
    );
    expectHere(
      `verify with no rows`,
      (r) => {
        r.verify.result.rows = [];
      },
      ['gen verify: ran in the guest'],
    );
    // What verify does not look at.
    expectHere(
      `cloud-init not done`,
      (r) => {
        r.cloud_init.status = 'running';
      },
      ['cloud-init: status done'],
    );
    expectHere(
      `cloud-init error`,
      (r) => {
        r.cloud_init.result.v1.errors = ["('scripts_user', RuntimeError('Runparts: 1 failures'))"];
      },
      ['cloud-init: result.json without errors'],
    );
    expectHere(
      `cloud-init warning`,
      (r) => {
        r.cloud_init.log_problems = [
          '2026-01-01 00:00:00,000 - util.py[WARNING]: Failed running /var/lib/cloud/instance/scripts/runcmd [1]',
        ];
      },
      ['cloud-init: no WARNING or DEPRECATED in cloud-init.log (this boot)'],
    );
    expectHere(
      `cloud-init deprecation (25.1's log level)`,
      (r) => {
        r.cloud_init.log_problems = [
          "2026-01-01 00:00:00,000 - lifecycle.py[DEPRECATED]: Config key 'lists' is deprecated in 22.3 and scheduled to be removed in 27.3.",
        ];
      },
      ['cloud-init: no WARNING or DEPRECATED in cloud-init.log (this boot)'],
    );
    expectHere(
      `cloud-init recoverable error (status.json of 23.4 and later)`,
      (r) => {
        r.cloud_init.status_json_v1.recoverable = { 'modules-config DEPRECATED': ['Key ssh_pwauth is deprecated'] };
      },
      ['cloud-init: no recoverable errors or deprecations (status.json)'],
    );
    expectHere(
      `a failed unit`,
      (r) => {
        r.failed_units = ['systemd-sysctl.service'];
      },
      ['systemd: no failed units'],
    );
    expectHere(
      `report collection error`,
      (r) => {
        r.errors = ['net: boom'];
      },
      ['report: no collection errors'],
    );
    expectHere(
      `root session nofile 1024`,
      (r) => {
        r.pam_limits.root.limits.nofile.soft = '1024';
      },
      ['pam root soft nofile'],
    );
    expectHere(
      `user session nofile 1024`,
      (r) => {
        r.pam_limits.user.limits.nofile = { soft: '1024', hard: '1024' };
      },
      ['pam * soft nofile', 'pam * hard nofile'],
    );
    // Never lower than the kernel had (report.sysctl_apply, modes from sysctl.wanted).
    expectHere(
      `a raise key below what the kernel had`,
      (r) => {
        const k = r.sysctl_apply.find((a) => modes.get(a.key) === 'raise');
        k.live = '0';
      },
      [`never lower than the kernel had: ${rep.sysctl_apply.find((a) => modes.get(a.key) === 'raise').key}`],
    );
    expectHere(
      `no record of the sysctl step`,
      (r) => {
        r.sysctl_apply = [];
      },
      ['sysctl step: it reported what the kernel had'],
    );
    // What explain claims of the kernel (report.kernel_facts).
    expectHere(
      `a bridge with a queue that txqueuelen sizes`,
      (r) => {
        for (const q of r.kernel_facts.qdiscs) if (/br0$/.test(q.dev)) q.kind = 'pfifo_fast';
      },
      ["explain: the manager's bridge is noqueue (its txqueuelen sizes no queue)"],
    );
    expectHere(
      `a NIC under pfifo_fast`,
      (r) => {
        for (const q of r.kernel_facts.qdiscs) if (/^(en|eth)/.test(q.dev)) q.kind = 'pfifo_fast';
      },
      ["explain: the NIC's qdiscs are fq_codel (under mq), which ignore txqueuelen"],
    );
    expectHere(
      `per-cgroup slab caches`,
      (r) => {
        r.kernel_facts.slab_cgroup_dirs = 3;
      },
      ['explain: /sys/kernel/slab lists no cgroups'],
    );
    expectHere(
      `/proc/sched_debug present`,
      (r) => {
        r.kernel_facts.sched_debug = true;
      },
      ['explain: /proc/sched_debug is absent'],
    );
    // What only the harness knows.
    expectHere(
      `another instance-id`,
      (r) => {
        r.cloud_init.instance_id = 'iid-somebody-else';
      },
      ["harness: instance-id is the seed's"],
    );
    expectHere(
      `verify checked another stack`,
      (r) => {
        r.verify.result.stack = ['lxd-small'];
      },
      ['harness: gen verify checked this stack'],
    );
    if (boot === 1) {
      expectHere(
        `runcmd did not run on boot 1`,
        (r) => {
          r.cloud_init.scripts_user = 'unknown';
        },
        ['harness: runcmd ran on boot 1'],
      );
    } else {
      expectHere(
        `runcmd ran again on boot 2`,
        (r) => {
          r.cloud_init.scripts_user = 'ran';
        },
        ['harness: runcmd not re-run on boot 2'],
      );
      expectHere(
        `boot 2 is the same boot as boot 1`,
        (r) => {
          r.boot_id = first.boot_id;
        },
        ['harness: boot 2 is a new boot'],
      );
      expectHere(
        `no report of boot 1`,
        (_, s) => {
          s.firstBootId = undefined;
        },
        ['harness: boot 2 is a new boot'],
      );
    }
  }
}

// --- storage (compareStorage): recorded pools of real boots, each broken one way -------------------
// test/e2e/storage-fixtures/STACK-boot-N.json: {wanted (the tree's preseed pools), storage (the
// report's storage section)}, as boot.sh's run recorded them.
const storageFixtures = join(here, 'storage-fixtures');
let storageRan = 0;
for (const f of readdirSync(storageFixtures).sort()) {
  const { wanted, storage } = JSON.parse(readFileSync(join(storageFixtures, f), 'utf8'));
  const pool = wanted[0];
  const source = pool.config.source;
  const checkNames = (r) =>
    compareStorage(wanted, r)
      .filter((c) => !c.ok)
      .map((c) => c.check);
  const expectStorage = (name, mutate, wantFailing) => {
    ran++;
    storageRan++;
    const r = { storage: structuredClone(storage) };
    mutate(r.storage);
    const got = checkNames(r);
    if (got.length !== wantFailing.length || !wantFailing.every((w) => got.includes(w))) {
      bad++;
      console.error(`FAIL ${f} ${name}: failing checks ${JSON.stringify(got)}, expected ${JSON.stringify(wantFailing)}`);
    }
  };
  const driverCheck = `storage: pool ${pool.name} is ${pool.driver}`;
  const deviceCheck = `storage: pool ${pool.name} was created on ${source}`;
  const holds =
    pool.driver === 'btrfs'
      ? [`storage: btrfs on ${source}`]
      : [
          `storage: ${source} is a physical volume of ${pool.name}`,
          `storage: ${pool.name} holds the thin pool ${pool.config['lvm.thinpool_name']}`,
        ];
  const mine = (st) => st.pools.find((p) => p.name === pool.name);
  expectStorage('as recorded', () => {}, []);
  if (compareStorage(wanted, { storage }).length !== 2 + holds.length) {
    bad++;
    console.error(`FAIL ${f}: compareStorage made ${compareStorage(wanted, { storage }).length} checks, not ${2 + holds.length}`);
  }
  expectStorage('the pool is dir', (st) => (mine(st).driver = 'dir'), [driverCheck]);
  expectStorage('the pool is not created', (st) => (mine(st).status = 'Errored'), [driverCheck]);
  expectStorage('the manager has no such pool', (st) => (st.pools = st.pools.filter((p) => p.name !== pool.name)), [
    driverCheck,
    deviceCheck,
  ]);
  expectStorage('the pool was created on another device', (st) => (mine(st).config['volatile.initial_source'] = '/dev/vdd'), [deviceCheck]);
  expectStorage('the by-id link is missing', (st) => delete st.by_id[source], holds.slice(0, 1));
  if (pool.driver === 'btrfs') {
    expectStorage('btrfs lists another device', (st) => (st.btrfs_show = st.btrfs_show.replaceAll(st.by_id[source], '/dev/vdd')), holds);
    expectStorage('btrfs-progs missing', (st) => (st.btrfs_show = { rc: -1, stderr: 'spawnSync btrfs ENOENT' }), holds);
  } else {
    expectStorage('the device is a PV of another VG', (st) => st.pvs.forEach((p) => (p.vg_name = 'other')), holds.slice(0, 1));
    expectStorage('a linear LV, no thin pool', (st) => st.lvs.forEach((l) => (l.segtype = 'linear')), holds.slice(1));
    expectStorage(
      'lvm2 missing',
      (st) => {
        st.pvs = { rc: -1, stderr: 'spawnSync pvs ENOENT' };
        st.lvs = { rc: -1, stderr: 'spawnSync lvs ENOENT' };
      },
      holds,
    );
  }
  // The same boot judged for a dir pool: nothing to check on a device.
  if (compareStorage([{ name: pool.name, driver: 'dir', config: {} }], { storage }).length !== 0) {
    bad++;
    console.error(`FAIL ${f}: compareStorage checks a dir pool`);
  }
}
if (storageRan === 0) {
  console.error('compare.selftest: no recorded storage under test/e2e/storage-fixtures');
  process.exit(1);
}

if (ran === 0) {
  console.error('compare.selftest: no fixtures under test/e2e/fixtures');
  process.exit(1);
}
console.log(`compare.selftest: ${ran - bad} of ${ran} negative controls behaved`);
process.exit(bad > 0 ? 1 : 0);
