#!/usr/bin/env node
// compare.selftest.mjs: offline negative controls for compare.mjs (< 1 s, no VM). Takes real guest
// reports recorded by boot.sh (test/e2e/fixtures/STACK/{limits.conf,sysctl.wanted,report-1.json,
// report-2.json}, limits.conf being the stack's limits.d file and sysctl.wanted its wanted sysctls;
// a stack with a netplan file also network.yaml and preseed.yaml, its tree's
// network/60-born-tuned.yaml and preseed), checks that each passes as recorded, then breaks one
// thing at a time and checks that exactly the expected checks fail. boot.sh runs it before booting
// anything. Exit 1 on any surprise.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  ABSENT_OK_NOTE,
  compare,
  compareIdentity,
  compareStorage,
  compareUplinks,
  fenceOf,
  preseedStoragePools,
  sysctlModes,
  uplinksWanted,
} from './compare.mjs';

const here = dirname(fileURLToPath(import.meta.url));
const fixtures = join(here, 'fixtures');
let bad = 0;
let ran = 0;

let modes = new Map();
/** The fixture's fence (its fence.nft, copied from the stack's tree), or undefined when it has none. */
let fence;
/** What the fixture's tree asks of capacity (compare.mjs treeCapacity), when recorded. */
let capacity;
// A fixture of a stack with a netplan file also holds it (network.yaml) and its preseed
// (preseed.yaml): what the uplink checks hold the report to.
let uplinks;
// Its preseed (preseed.yaml) also names its storage pools: a pool on a device is checked.
let storagePools;
const failing = (limits, rep, seeded) =>
  compare(limits, rep, seeded, modes, { fence, capacity, uplinks, storagePools })
    .filter((c) => !c.ok)
    .map((c) => c.check);

/** The rows only gen verify has (compare.mjs says the same): the manager's and the uplink's. */
const genVerifyOnly = (x) => /^(lxd|incus|bond|vlan|mtu|bridge\.mtu) /.test(x.check);

/**
 * Breaks a check on the host, which both verifiers see: `patch` goes into gen verify's row and, for
 * a row born-tuned-verify has too (not the manager's or the uplink's), into its row as well, and
 * born-tuned-verify's exit status follows its rows.
 */
function breakRow(r, check, patch) {
  Object.assign(row(r, check), patch);
  const mine = r.self_check?.result?.rows?.find((y) => y.check === check);
  if (!mine || genVerifyOnly(mine)) return;
  Object.assign(mine, patch);
  for (const x of [row(r, check), mine]) if (x.note === undefined) delete x.note;
  r.self_check.rc = r.self_check.result.rows.some((y) => y.status === 'FAIL') ? 1 : 0;
}

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
  fence = existsSync(join(dir, 'fence.nft')) ? fenceOf(readFileSync(join(dir, 'fence.nft'), 'utf8')) : undefined;
  // capacity.json: treeCapacity of the recorded run's tree (none: the stack asks for no capacity checks).
  const recordedCapacity = existsSync(join(dir, 'capacity.json'))
    ? JSON.parse(readFileSync(join(dir, 'capacity.json'), 'utf8'))
    : undefined;
  capacity = recordedCapacity;
  const optional = (f) => (existsSync(join(dir, f)) ? readFileSync(join(dir, f), 'utf8') : '');
  uplinks = uplinksWanted(optional('network.yaml'), optional('preseed.yaml'));
  storagePools = preseedStoragePools(optional('preseed.yaml'));
  const first = JSON.parse(readFileSync(join(dir, 'report-1.json'), 'utf8'));
  for (const f of readdirSync(dir).filter((f) => /^report-\d\.json$/.test(f))) {
    const rep = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const t = `${stack}/${f}`;
    const bridgeRow = rep.verify.result.rows.find((x) => /^txqueuelen bridge /.test(x.check));
    const poolRow = rep.verify.result.rows.find((y) => / storage pool /.test(y.check));
    // What boot.sh seeded for this recorded run.
    const boot = Number(/report-(\d)/.exec(f)[1]);
    const seeded = {
      instanceId: first.cloud_init.instance_id,
      stack: stack.replace(/^(baked|packer)-/, ''),
      boot,
      firstBootId: first.boot_id,
    };
    const expectHere = (name, mutate, wantFailing) => expect(`${t} ${name}`, limits, rep, seeded, mutate, wantFailing);

    expectHere(`as recorded`, () => {}, []);
    if (uplinks.interfaces.length > 0) {
      expectHere(
        `a bond member not enslaved`,
        (r) => {
          r.uplinks.bonding.bond0 = r.uplinks.bonding.bond0.replace(/Slave Interface: [\s\S]*?(?=Slave Interface: )/, '');
        },
        ['uplink: bond bond0 has its 2 members enslaved, link up', 'uplink: bond bond0 sends on its primary port1'],
      );
      expectHere(
        `the bridge not at the uplink's MTU`,
        (r) => {
          r.uplinks.links.find((l) => l.kind === 'bridge').mtu = 1500;
        },
        ["uplink: the manager's bridge mtu 9000 (preseed bridge.mtu)"],
      );
    }
    // gen verify's rows: the judge of the profile's settings.
    expectHere(
      `a verify row FAIL`,
      (r) => {
        breakRow(r, 'sysctl vm.max_map_count', { status: 'FAIL', actual: '65530' });
        r.verify.rc = 1;
      },
      ['verify: sysctl vm.max_map_count'],
    );
    expectHere(
      `ABSENT: kernel lacks a sysctl key`,
      (r) => {
        breakRow(r, 'sysctl fs.aio-max-nr', { status: 'ABSENT', actual: '-', note: 'this kernel has no such key' });
      },
      ['verify: sysctl fs.aio-max-nr'],
    );
    expectHere(
      `ABSENT: daemon not running`,
      (r) => {
        breakRow(r, 'daemon limit nofile', { status: 'ABSENT', actual: '-', note: `${r.manager} daemon not running` });
      },
      ['verify: daemon limit nofile'],
    );
    expectHere(
      `ABSENT: no manager to ask`,
      (r) => {
        breakRow(r, poolRow.check, {
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
        breakRow(r, 'mode /sys/kernel/slab', { status: 'ABSENT', actual: '-', note: ABSENT_OK_NOTE });
      },
      [],
    );
    expectHere(
      `/proc/sched_debug present with mode 0444`,
      (r) => {
        breakRow(r, 'mode /proc/sched_debug', { status: 'FAIL', actual: '0444', note: undefined });
        r.verify.rc = 1;
      },
      ['verify: mode /proc/sched_debug'],
    );
    if (bridgeRow) {
      expectHere(
        `ABSENT: bridge missing`,
        (r) => {
          breakRow(r, bridgeRow.check, { status: 'ABSENT', actual: '-', note: 'no device matches x' });
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
    // born-tuned-verify: the host's own verifier, beside gen verify.
    const AGREE = "born-tuned-verify: gen verify's rows but the manager's";
    const DRIFT_ALL = [
      'drift: a raise key was set below wanted',
      'drift: gen verify caught it',
      'drift: born-tuned-verify caught it',
      'drift: both verifiers report the same rows',
      'drift: the key was restored',
    ];
    expectHere(`born-tuned-verify missing from the report`, (r) => delete r.self_check, ['born-tuned-verify: ran in the guest']);
    expectHere(
      `born-tuned-verify not installed`,
      (r) => {
        r.self_check = { rc: -1, stderr: 'spawnSync /usr/local/sbin/born-tuned-verify ENOENT', result: null, stdout: '' };
      },
      ['born-tuned-verify: ran in the guest'],
    );
    expectHere(
      `born-tuned-verify passes a row gen verify fails`,
      (r) => {
        Object.assign(row(r, 'sysctl vm.max_map_count'), { status: 'FAIL', actual: '65530', note: undefined });
        delete row(r, 'sysctl vm.max_map_count').note;
        r.verify.rc = 1;
      },
      ['verify: sysctl vm.max_map_count', AGREE],
    );
    expectHere(
      `born-tuned-verify with another actual value`,
      (r) => {
        r.self_check.result.rows.find((x) => x.check === 'daemon limit nofile').actual = '1024/1048576';
      },
      [AGREE],
    );
    expectHere(
      `born-tuned-verify without a row`,
      (r) => {
        r.self_check.result.rows = r.self_check.result.rows.filter((x) => !x.check.startsWith('file '));
      },
      [AGREE],
    );
    expectHere(
      `born-tuned-verify with a manager row of its own`,
      (r) => {
        r.self_check.result.rows.push({ ...poolRow });
      },
      [AGREE],
    );
    expectHere(
      `born-tuned-verify exit 1 with no FAIL row`,
      (r) => {
        r.self_check.rc = 1;
      },
      ['born-tuned-verify: exit status'],
    );
    // The drift runs on boot 2 only (report.mjs); boot 1's drift is not judged.
    if (boot === 1) expectHere(`drift on boot 1 is not judged`, (r) => delete r.drift, []);
    else {
      expectHere(`drift missing from the report`, (r) => delete r.drift, DRIFT_ALL);
      expectHere(
        `drift step failed`,
        (r) => {
          r.drift = { error: 'EACCES' };
        },
        DRIFT_ALL,
      );
      expectHere(
        `drift written but not taken by the kernel`,
        (r) => {
          r.drift.live_while_drifted = r.drift.had;
        },
        ['drift: a raise key was set below wanted'],
      );
      expectHere(
        `drift not caught by born-tuned-verify`,
        (r) => {
          r.drift.self_check = structuredClone(r.self_check); // the rows of the host before the drift: all PASS, exit 0
        },
        ['drift: born-tuned-verify caught it', 'drift: both verifiers report the same rows'],
      );
      expectHere(
        `drift not caught by gen verify`,
        (r) => {
          r.drift.verify = structuredClone(r.verify);
        },
        ['drift: gen verify caught it', 'drift: both verifiers report the same rows'],
      );
      expectHere(
        `drift caught by a FAIL row but exit 0`,
        (r) => {
          r.drift.self_check.rc = 0;
        },
        ['drift: born-tuned-verify caught it'],
      );
      expectHere(
        `drift not restored`,
        (r) => {
          r.drift.restored = false;
        },
        ['drift: the key was restored'],
      );
    }
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
    // The container on the generated default profile (report.container).
    expectHere(
      `no container report`,
      (r) => {
        delete r.container;
      },
      ['container: launched from the probe image'],
    );
    expectHere(
      `the container did not start`,
      (r) => {
        r.container.status = 'STOPPED';
      },
      ['container: launched from the probe image'],
    );
    expectHere(
      `an address outside the bridge subnet`,
      (r) => {
        r.container.address = '192.0.2.7';
      },
      ['container: an IPv4 address in the bridge subnet'],
    );
    expectHere(
      `no DNS answer on the bridge`,
      (r) => {
        r.container.dns.answered = false;
      },
      ["container: the host's DNS on the bridge answers its name"],
    );
    expectHere(
      `the metadata listener never answered`,
      (r) => {
        r.container.metadata_from_host = false;
      },
      ['container: the metadata listener answers the host (the probe works)'],
    );
    if (rep.container?.profile_nic?.['queue.tx.length'] !== undefined) {
      expectHere(
        `eth0 without the profile's queue.tx.length`,
        (r) => {
          r.container.eth0_txqueuelen = '1000';
        },
        ["container: eth0 has the profile's queue.tx.length"],
      );
    }
    if (fence) {
      expectHere(
        `the container reaches the metadata service`,
        (r) => {
          r.container.metadata_reached = true;
        },
        ['fence: the container cannot reach 169.254.169.254'],
      );
      expectHere(
        `the container reaches the host's SSH port`,
        (r) => {
          r.container.host_ssh_reached = true;
        },
        ["fence: the container cannot reach the host's SSH port"],
      );
      expectHere(
        `the negative control did not reach the listener`,
        (r) => {
          r.container.metadata_reached_without_fence = false;
        },
        ['fence: without its table the container reaches 169.254.169.254 (negative control)'],
      );
      expectHere(
        `the fence's table not loaded`,
        (r) => {
          r.container.fence_loaded = false;
          delete r.container.metadata_reached_without_fence;
          delete r.container.fence_restored;
        },
        [
          'fence: its table is loaded',
          'fence: without its table the container reaches 169.254.169.254 (negative control)',
          'fence: its unit puts the table back',
        ],
      );
    }
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
    // Capacity: root's ranges hold the subids step's ids, the modules are loaded (on boot 2 with no
    // error from modules-load.d). Only for a fixture whose tree asked for capacity (capacity.json).
    if (recordedCapacity) {
      const want = recordedCapacity;
      const expectCapacity = (name, mutate, wantFailing) => expectHere(`capacity: ${name}`, mutate, wantFailing);
      const holds = (file) => `capacity: root's first range in /etc/${file} holds ${want.subids} ids`;
      expectCapacity('as wanted', () => {}, []);
      expectCapacity(
        "root's first range in subuid one id short",
        (r) => {
          r.capacity.subuid = `_lxd:100000:10000001\nroot:100000:${want.subids - 1}\n`;
        },
        [holds('subuid')],
      );
      expectCapacity(
        'the large root range second in subgid (the daemon maps from the first)',
        (r) => {
          r.capacity.subgid = `root:100000:65536\nroot:1000000:${want.subids}\n`;
        },
        [holds('subgid')],
      );
      expectCapacity(
        'no /etc/subuid',
        (r) => {
          r.capacity.subuid = null;
        },
        [holds('subuid')],
      );
      for (const m of want.modules) {
        expectCapacity(
          `${m} not loaded`,
          (r) => {
            r.capacity.modules[m] = false;
          },
          [
            `capacity: module ${m} loaded`,
            ...(boot === 2 ? [`capacity: ${m} loaded at boot 2 with no error from systemd-modules-load`] : []),
          ],
        );
        if (boot === 2)
          expectCapacity(
            `systemd-modules-load failed to load ${m} on boot 2`,
            (r) => {
              r.capacity.modules_load_journal = [`Failed to find module '${m}'`];
            },
            [`capacity: ${m} loaded at boot 2 with no error from systemd-modules-load`],
          );
      }
      expectCapacity(
        'the report has no capacity section',
        (r) => {
          delete r.capacity;
        },
        [
          holds('subuid'),
          holds('subgid'),
          ...want.modules.flatMap((m) => [
            `capacity: module ${m} loaded`,
            ...(boot === 2 ? [`capacity: ${m} loaded at boot 2 with no error from systemd-modules-load`] : []),
          ]),
        ],
      );
    }
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

// The fence checks, on each recorded report (every fixture is a fenced stack: its tree's fence.nft
// names the bridge).
for (const stack of readdirSync(fixtures).sort()) {
  const dir = join(fixtures, stack);
  const limits = readFileSync(join(dir, 'limits.conf'), 'utf8');
  modes = sysctlModes(readFileSync(join(dir, 'sysctl.wanted'), 'utf8'));
  // Only the fence is judged here: what the loop above judged of capacity and the uplink is not asked.
  capacity = undefined;
  uplinks = undefined;
  const first = JSON.parse(readFileSync(join(dir, 'report-1.json'), 'utf8'));
  for (const f of readdirSync(dir).filter((f) => /^report-\d\.json$/.test(f))) {
    const recorded = JSON.parse(readFileSync(join(dir, f), 'utf8'));
    const bridge = fenceOf(readFileSync(join(dir, 'fence.nft'), 'utf8')).bridge;
    fence = { bridge };
    const rep = recorded;
    const boot = Number(/report-(\d)/.exec(f)[1]);
    const seeded = {
      instanceId: first.cloud_init.instance_id,
      stack: stack.replace(/^(baked|packer)-/, ''),
      boot,
      firstBootId: first.boot_id,
    };
    const expectHere = (name, mutate, wantFailing) => expect(`${stack}/${f} fence: ${name}`, limits, rep, seeded, mutate, wantFailing);
    const LOADED = 'fence: table inet born_tuned_fence loaded, on the bridge';
    const UNIT = 'fence: born-tuned-fence.service active and enabled';
    const ORDER = "fence: up no later than the manager's socket (boot 2)";
    expectHere('fenced', () => {}, []);
    expectHere(
      'the table not loaded',
      (r) => {
        Object.assign(r.fence, { nft_rc: 1, table: null, nft_stderr: 'Error: No such file or directory' });
      },
      [LOADED],
    );
    expectHere(
      'the table loaded for another bridge',
      (r) => {
        for (const i of r.fence.table.nftables) for (const e of i.rule?.expr ?? []) if (e.match?.right === bridge) e.match.right = 'virbr0';
      },
      [LOADED],
    );
    expectHere(
      'a guest that reports no fence at all',
      (r) => {
        delete r.fence;
      },
      boot === 2 ? [LOADED, UNIT, ORDER] : [LOADED, UNIT],
    );
    expectHere(
      'the unit failed',
      (r) => {
        Object.assign(r.fence.unit, { ActiveState: 'failed', Result: 'exit-code' });
      },
      [UNIT],
    );
    expectHere(
      'the unit not enabled',
      (r) => {
        r.fence.unit.UnitFileState = 'disabled';
      },
      [UNIT],
    );
    expectHere(
      "the fence up after the manager's socket",
      (r) => {
        r.fence.unit.ActiveEnterTimestampMonotonic = String(Number(r.fence.manager_socket.ActiveEnterTimestampMonotonic) + 1);
      },
      boot === 2 ? [ORDER] : [],
    );
  }
}

// --- the uplink judge (compareUplinks), on a bond as the guest reports it ----------------------------
// A stack with test/e2e/profiles/bonded.yaml: its netplan file and preseed line as gen writes them,
// and report.uplinks of a guest where all is as asked (two members by MAC, active-backup on the
// primary, MTU 9000 on the bond, its members and the bridge). Each break must fail exactly its check.
{
  const netplan = [
    'network:',
    '  version: 2',
    '  renderer: networkd',
    '  ethernets:',
    '    port1:',
    '      match:',
    '        macaddress: 52:54:00:b7:00:01',
    '      mtu: 9000',
    '      dhcp4: false',
    '    port2:',
    '      match:',
    '        macaddress: 52:54:00:b7:00:02',
    '      mtu: 9000',
    '      dhcp4: false',
    '  bonds:',
    '    bond0:',
    '      interfaces: [port1, port2]',
    '      mtu: 9000',
    '      parameters:',
    '        mode: active-backup',
    '        mii-monitor-interval: 100',
    '        primary: port1',
    '      dhcp4: false',
    '      addresses: [10.0.2.15/24]',
    '      routes:',
    '        - to: default',
    '          via: 10.0.2.2',
    '',
  ].join('\n');
  const wanted = uplinksWanted(netplan, 'networks:\n  - name: lxdbr0\n    config:\n      bridge.mtu: "9000"\n');
  const slave = (name, mac, mii = 'up') =>
    `Slave Interface: ${name}\nMII Status: ${mii}\nSpeed: Unknown\nDuplex: Unknown\nLink Failure Count: 0\nPermanent HW addr: ${mac}\nSlave queue ID: 0\n\n`;
  const good = {
    links: [
      { ifname: 'lo', mtu: 65536, master: null, kind: null },
      { ifname: 'enp0s3', mtu: 9000, master: 'bond0', kind: null },
      { ifname: 'enp0s4', mtu: 9000, master: 'bond0', kind: null },
      { ifname: 'bond0', mtu: 9000, master: null, kind: 'bond' },
      { ifname: 'lxdbr0', mtu: 9000, master: null, kind: 'bridge' },
    ],
    addresses: [
      { ifname: 'bond0', addresses: ['10.0.2.15/24'] },
      { ifname: 'lxdbr0', addresses: ['172.16.0.1/24'] },
    ],
    default_routes: [{ dev: 'bond0', gateway: '10.0.2.2' }],
    bonding: {
      bond0:
        'Ethernet Channel Bonding Driver: v6.1.0\n\nBonding Mode: fault-tolerance (active-backup)\nPrimary Slave: enp0s3 (primary_reselect always)\nCurrently Active Slave: enp0s3\nMII Status: up\nMII Polling Interval (ms): 100\n\n' +
        slave('enp0s3', '52:54:00:b7:00:01') +
        slave('enp0s4', '52:54:00:b7:00:02'),
    },
  };
  const uplinkFailing = (got) => {
    const checks = [];
    compareUplinks(got, wanted, (check, ok, detail) => checks.push({ check, ok, detail }));
    return checks;
  };
  const expectUplink = (name, mutate, wantFailing) => {
    ran++;
    const got = structuredClone(good);
    const replaced = mutate(got);
    const checks = uplinkFailing(replaced === undefined ? got : replaced);
    const failed = checks.filter((c) => !c.ok).map((c) => c.check);
    if (
      failed.length !== wantFailing.length ||
      !wantFailing.every((w) => failed.includes(w)) ||
      (wantFailing.length === 0 && checks.length !== 10)
    ) {
      bad++;
      console.error(`FAIL uplink ${name}: failing checks ${JSON.stringify(failed)}, expected ${JSON.stringify(wantFailing)}`);
    }
  };
  const members = 'uplink: bond bond0 has its 2 members enslaved, link up';
  expectUplink('as asked', () => {}, []);
  expectUplink(
    'one member not enslaved',
    (g) => {
      g.bonding.bond0 = g.bonding.bond0.replace(/Slave Interface: enp0s4[\s\S]*$/, '');
      g.links[2].master = null;
    },
    [members],
  );
  expectUplink(
    'a member with its link down',
    (g) => {
      g.bonding.bond0 = g.bonding.bond0.replace(/(Slave Interface: enp0s4\nMII Status: )up/, '$1down');
    },
    [members],
  );
  expectUplink(
    'a member enslaved elsewhere',
    (g) => {
      g.links[2].master = 'bond1';
    },
    [members],
  );
  expectUplink(
    'a stranger enslaved instead of a member',
    (g) => {
      g.bonding.bond0 = g.bonding.bond0.replace('52:54:00:b7:00:02', '52:54:00:b7:00:09');
    },
    [members],
  );
  expectUplink(
    'the bond in another mode',
    (g) => {
      g.bonding.bond0 = g.bonding.bond0.replace('fault-tolerance (active-backup)', 'IEEE 802.3ad Dynamic link aggregation');
    },
    ['uplink: bond bond0 mode active-backup'],
  );
  expectUplink(
    'the bond down',
    (g) => {
      g.bonding.bond0 = g.bonding.bond0.replace(/^MII Status: up$/m, 'MII Status: down');
    },
    ['uplink: bond bond0 link up'],
  );
  expectUplink(
    'sending on the backup',
    (g) => {
      g.bonding.bond0 = g.bonding.bond0.replace('Currently Active Slave: enp0s3', 'Currently Active Slave: enp0s4');
    },
    ['uplink: bond bond0 sends on its primary port1'],
  );
  expectUplink(
    'the bond at 1500',
    (g) => {
      g.links[3].mtu = 1500;
    },
    ['uplink: bond0 mtu 9000'],
  );
  expectUplink(
    'a member at 1500',
    (g) => {
      g.links[1].mtu = 1500;
    },
    ['uplink: bond bond0 members mtu 9000'],
  );
  expectUplink(
    'the bridge at 1500',
    (g) => {
      g.links[4].mtu = 1500;
    },
    ["uplink: the manager's bridge mtu 9000 (preseed bridge.mtu)"],
  );
  expectUplink(
    'the address on a member instead',
    (g) => {
      g.addresses[0].ifname = 'enp0s3';
    },
    ['uplink: bond0 has 10.0.2.15/24'],
  );
  expectUplink(
    'the default route on a member',
    (g) => {
      g.default_routes[0].dev = 'enp0s3';
    },
    ['uplink: default route via 10.0.2.2 on bond0'],
  );
  expectUplink(
    'no bond at all',
    (g) => {
      g.bonding = {};
    },
    ['uplink: bond bond0 in /proc/net/bonding'],
  );
  expectUplink('no uplinks section in the report', () => null, ['uplink: reported']);
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

// --- the identity proof of a Packer image (compareIdentity) and its VM B -------------------------
// A Packer stack's fixture (packer-STACK) also holds VM B's report (report-B.json) and the build's
// removed-identity.txt (90-cleanup.sh's line naming the build VM's server.crt). VM B as recorded
// passes compare() as boot B, and A against B passes; then each identity breaks one at a time.
let identityRan = 0;
for (const stack of readdirSync(fixtures).sort()) {
  const dir = join(fixtures, stack);
  if (!existsSync(join(dir, 'report-B.json'))) continue;
  identityRan++;
  const a = JSON.parse(readFileSync(join(dir, 'report-1.json'), 'utf8'));
  const b = JSON.parse(readFileSync(join(dir, 'report-B.json'), 'utf8'));
  const built = /server\.crt \(sha256 ([0-9a-f]{64})\)/.exec(readFileSync(join(dir, 'removed-identity.txt'), 'utf8'))?.[1];
  if (built === undefined) {
    bad++;
    console.error(`FAIL ${stack}: removed-identity.txt names no server.crt`);
  }
  modes = sysctlModes(readFileSync(join(dir, 'sysctl.wanted'), 'utf8'));
  fence = existsSync(join(dir, 'fence.nft')) ? fenceOf(readFileSync(join(dir, 'fence.nft'), 'utf8')) : undefined;
  capacity = existsSync(join(dir, 'capacity.json')) ? JSON.parse(readFileSync(join(dir, 'capacity.json'), 'utf8')) : undefined;
  uplinks = undefined;
  storagePools = undefined;
  const limits = readFileSync(join(dir, 'limits.conf'), 'utf8');
  const seededB = { instanceId: b.cloud_init.instance_id, stack: stack.replace(/^packer-/, ''), boot: 'B' };
  expect(`${stack}/report-B.json as recorded (boot B)`, limits, b, seededB, () => {}, []);
  expect(
    `${stack}/report-B.json: a full report where a light one was asked`,
    limits,
    b,
    seededB,
    (r) => {
      r.light = false;
    },
    ['harness: a light report (no drift, no container) for VM B'],
  );
  // VM B's light report judged as a full boot 1: the container is missing (the drift is boot 2's).
  const full = failing(limits, b, { ...seededB, boot: 1 });
  if (!full.some((c) => c.startsWith('container:'))) {
    bad++;
    console.error(`FAIL ${stack}: VM B's light report passes as a full boot 1: ${JSON.stringify(full)}`);
  }
  const DIFF_ID = 'identity: machine-ids differ';
  const DIFF_KEYS = 'identity: SSH host keys differ';
  const DIFF_CERT = "identity: the manager's certificates differ";
  const NOT_BUILT = "identity: neither host has the build VM's certificate";
  const expectId = (name, mutate, wantFailing) => {
    ran++;
    const ra = structuredClone(a);
    const rb = structuredClone(b);
    const bc = { built };
    mutate(ra, rb, bc);
    const got = compareIdentity(ra, rb, bc.built)
      .filter((c) => !c.ok)
      .map((c) => c.check);
    const ok = got.length === wantFailing.length && wantFailing.every((w) => got.includes(w));
    if (!ok) {
      bad++;
      console.error(`FAIL ${stack} identity: ${name}: failing checks ${JSON.stringify(got)}, expected ${JSON.stringify(wantFailing)}`);
    }
  };
  expectId('as recorded', () => {}, []);
  expectId('the same machine-id', (ra, rb) => (rb.identity.machine_id = ra.identity.machine_id), [DIFF_ID]);
  expectId('the same SSH host key', (ra, rb) => (rb.identity.ssh_host_keys[0].fingerprint = ra.identity.ssh_host_keys[0].fingerprint), [
    DIFF_KEYS,
  ]);
  expectId('the same certificate', (ra, rb) => (rb.identity.manager_cert = { ...ra.identity.manager_cert }), [DIFF_CERT]);
  expectId("B has the build VM's certificate", (_, rb, bc) => (bc.built = rb.identity.manager_cert.file_sha256), [NOT_BUILT]);
  expectId('no identity reported by B', (_, rb) => (rb.identity = null), [
    'identity: both hosts reported it',
    DIFF_ID,
    DIFF_KEYS,
    DIFF_CERT,
    NOT_BUILT,
    "identity: host B: every login's password is locked",
    'identity: host B: sshd PasswordAuthentication no',
  ]);
  expectId('no machine-id (empty file)', (ra) => (ra.identity.machine_id = ''), [DIFF_ID]);
  expectId('no SSH host keys', (ra) => (ra.identity.ssh_host_keys = []), [DIFF_KEYS]);
  expectId(
    'no certificate (the daemon never ran)',
    (_, rb) => (rb.identity.manager_cert = { path: '/var/lib/incus/server.crt', missing: true }),
    [DIFF_CERT, NOT_BUILT],
  );
  expectId("the build's certificate unknown", (_, __, bc) => (bc.built = ''), [NOT_BUILT]);
  expectId('a login keeps a password', (ra) => (ra.identity.logins[0].password = 'set'), [
    "identity: host A: every login's password is locked",
  ]);
  expectId('a login has an empty password', (_, rb) => (rb.identity.logins[0].password = 'empty'), [
    "identity: host B: every login's password is locked",
  ]);
  expectId('no login users reported', (ra) => (ra.identity.logins = []), ["identity: host A: every login's password is locked"]);
  expectId('sshd allows password login', (ra) => (ra.identity.sshd_password_authentication = 'yes'), [
    'identity: host A: sshd PasswordAuthentication no',
  ]);
}
if (identityRan === 0) {
  console.error('compare.selftest: no recorded Packer stack (fixtures/packer-*/report-B.json) for the identity proof');
  process.exit(1);
}

if (ran === 0) {
  console.error('compare.selftest: no fixtures under test/e2e/fixtures');
  process.exit(1);
}
console.log(`compare.selftest: ${ran - bad} of ${ran} negative controls behaved`);
process.exit(bad > 0 ? 1 : 0);
