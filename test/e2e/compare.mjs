#!/usr/bin/env node
// compare.mjs TREE REPORT_JSON [IID STACK BOOT [FIRST_REPORT_JSON]]
//
// Host-side judge of one e2e boot. TREE is the `gen --out` tree of the stack (only its limits.d file
// is read); REPORT_JSON is what the booted guest reported (test/e2e/guest/report.mjs). IID, STACK
// (a+b) and BOOT (1 or 2) are what boot.sh seeded; with them the harness's own checks are added:
// the instance-id is the seed's, verify checked this stack, runcmd ran on boot 1 and not again on
// boot 2, and boot 2 is a new boot (its boot_id differs from FIRST_REPORT_JSON's). Prints one
// JSON object on stdout:
//   {"passed": N, "failed": N, "verify": {pass, fail, absent, total}, "checks": [{check, ok, detail}]}
// Exit 0 when every check passed, 1 when one failed, 2 on bad usage or an unreadable input.
//
// The judge of the profile's settings is the product's own `gen verify`, run inside the guest from
// the seed (report.verify): one check per verify row, which must be PASS, or ABSENT only where the
// kernel has no such path (e.g. /proc/sched_debug on 6.1). Any other ABSENT (a sysctl key the
// kernel lacks, the daemon not running, no manager to ask, no device matching a txqueuelen rule)
// fails. Around it, what verify does not look at:
//   - the report itself was collected without errors;
//   - cloud-init: status done, no errors in result.json/status.json, no recoverable error or
//     deprecation in status.json (cloud-init 23.4 and later), no WARNING/DEPRECATED/ERROR line in
//     this boot's part of cloud-init.log;
//   - systemd: no failed unit (e.g. systemd-sysctl refusing a value at boot);
//   - PAM limits of a login session of root and of a regular user >= the stack's limits.d file
//     (verify checks the file's bytes; only a session shows that pam_limits applies it);
//   - what `gen explain` claims of the kernel (src/facts/settings.ts): the manager's bridge is
//     noqueue, the NIC's qdiscs are fq_codel (under mq), /sys/kernel/slab lists no cgroups,
//     /proc/sched_debug is absent;
//   - storage (compareStorage): a pool on a device is the wanted driver, created on the wanted
//     device, which holds it (btrfs filesystem show; pvs and the thin pool in lvs).
// Plain JS, node builtins only.
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The only ABSENT note that passes: a path this kernel does not have. */
export const ABSENT_OK_NOTE = 'this kernel has no such path';

/**
 * @param {{instanceId: string, stack: string, boot: number, firstBootId?: string} | undefined} seeded
 *   what boot.sh seeded, for the harness checks (left out: none)
 * @param {Map<string, string> | undefined} wantedModes each sysctl's mode from the tree's sysctl.wanted
 * @returns {{check: string, ok: boolean, detail: string}[]}
 */
export function compare(limitsConfText, report, seeded, wantedModes) {
  const checks = [];
  const add = (check, ok, detail = '') => checks.push({ check, ok: Boolean(ok), detail });

  // --- the report itself ---------------------------------------------------------------------
  add('report: no collection errors', (report.errors ?? []).length === 0, (report.errors ?? []).join(' | '));

  // --- cloud-init ----------------------------------------------------------------------------
  const ci = report.cloud_init ?? {};
  add('cloud-init: status done', ci.status === 'done', `status ${ci.status ?? 'unknown'}`);
  const resultErrors = ci.result?.v1?.errors ?? (ci.result ? [] : ['no /run/cloud-init/result.json']);
  add('cloud-init: result.json without errors', resultErrors.length === 0, resultErrors.join(' | '));
  const stageErrors = Object.entries(ci.status_json_v1?.errors ?? {}).flatMap(([s, es]) => es.map((e) => `${s}: ${e}`));
  add('cloud-init: no stage errors (status.json)', stageErrors.length === 0, stageErrors.join(' | '));
  add(
    "cloud-init: this boot's part of cloud-init.log found",
    (ci.log_lines_this_boot ?? 0) > 0,
    `${ci.log_lines_this_boot ?? 0} lines since the last 'init-local' start`,
  );
  const recoverable = Object.entries(ci.status_json_v1?.recoverable ?? {}).flatMap(([k, ms]) => ms.map((m) => `${k}: ${m}`));
  add('cloud-init: no recoverable errors or deprecations (status.json)', recoverable.length === 0, recoverable.join(' | '));
  const problems = ci.log_problems ?? [];
  const warnings = problems.filter((l) => /\[(WARNING|DEPRECATED)\]/.test(l));
  const errors = problems.filter((l) => /\[(ERROR|CRITICAL)\]/.test(l));
  add('cloud-init: no ERROR in cloud-init.log (this boot)', errors.length === 0, errors.join(' | '));
  add('cloud-init: no WARNING or DEPRECATED in cloud-init.log (this boot)', warnings.length === 0, warnings.join(' | '));

  // --- systemd ---------------------------------------------------------------------------------
  const failedUnits = report.failed_units;
  add(
    'systemd: no failed units',
    Array.isArray(failedUnits) && failedUnits.length === 0,
    Array.isArray(failedUnits) ? failedUnits.join(', ') : 'not reported',
  );

  // --- PAM limits (limits.d), seen in a login session of root and of a regular user -------------
  for (const { domain, type, item, value } of parseLimitsConf(limitsConfText ?? '')) {
    const who = domain === 'root' ? 'root' : domain === '*' ? 'user' : null;
    const name = `pam ${domain} ${type} ${item}`;
    if (!who) {
      add(name, false, 'compare.mjs checks only the root and * domains');
      continue;
    }
    const session = report.pam_limits?.[who];
    const have = session?.limits?.[item];
    const kinds = type === '-' ? ['soft', 'hard'] : [type];
    if (!have) {
      add(name, false, `wanted ${value}; not reported (${session?.name ?? who}: ${session?.stderr || 'no session'})`);
      continue;
    }
    const ok = kinds.every((k) => atLeast(have[k], value));
    add(name, ok, `${session.name}: ${kinds.map((k) => `${k} ${have[k]}`).join(', ')}, wanted >= ${value}`);
  }

  // --- never lower than the kernel had: each key the first-boot step met, in its mode ------------
  // (the modes come from the tree's born-tuned/sysctl.wanted; boot 2's live values are held to
  // what the kernel had at boot 1, before anything of ours applied)
  const applied = Array.isArray(report.sysctl_apply) ? report.sysctl_apply : [];
  add('sysctl step: it reported what the kernel had', applied.length > 0, `${applied.length} keys`);
  for (const { key, had, live } of applied) {
    const mode = (wantedModes ?? new Map()).get(key);
    if (mode !== 'raise' && mode !== 'lower') continue;
    const h = String(had).split(' ').map(Number);
    const l = String(live).split(' ').map(Number);
    const ok = h.length === l.length && h.every((x, i) => (mode === 'raise' ? l[i] >= x : l[i] <= x));
    add(`never ${mode === 'raise' ? 'lower' : 'higher'} than the kernel had: ${key}`, ok, `had ${had}, now ${live}`);
  }

  // --- what gen explain says of this kernel (src/facts: txqueuelen, hide_instance_names) ---------
  const facts = report.kernel_facts;
  const qdiscs = Array.isArray(facts?.qdiscs) ? facts.qdiscs : [];
  const bridge = qdiscs.filter((q) => /^(lxd|incus)br0$/.test(q.dev ?? '') && q.root);
  add(
    "explain: the manager's bridge is noqueue (its txqueuelen sizes no queue)",
    bridge.length > 0 && bridge.every((q) => q.kind === 'noqueue'),
    bridge.map((q) => `${q.dev} ${q.kind}`).join(', ') || 'no bridge qdisc reported',
  );
  const nics = qdiscs.filter((q) => /^(en|eth)/.test(q.dev ?? ''));
  add(
    "explain: the NIC's qdiscs are fq_codel (under mq), which ignore txqueuelen",
    nics.length > 0 && nics.every((q) => q.kind === 'fq_codel' || (q.kind === 'mq' && q.root)),
    nics.map((q) => `${q.dev} ${q.root ? 'root ' : ''}${q.kind}`).join(', ') || 'no NIC qdisc reported',
  );
  add(
    'explain: /sys/kernel/slab lists no cgroups',
    facts?.slab_cgroup_dirs === 0,
    `${facts?.slab_cgroup_dirs} cache dirs with a cgroup/ entry`,
  );
  add('explain: /proc/sched_debug is absent', facts?.sched_debug === false, `exists: ${facts?.sched_debug}`);

  // --- gen verify: the judge of the profile's settings ------------------------------------------
  const v = report.verify;
  const rows = v?.result?.rows;
  const ran = !!v && !v.error && Array.isArray(rows) && rows.length > 0 && (v.rc === 0 || v.rc === 1);
  add(
    'gen verify: ran in the guest',
    ran,
    v?.error ??
      (ran
        ? `${rows.length} rows, exit ${v.rc}`
        : `exit ${v?.rc}; ${(v?.stderr ?? '').trim().slice(0, 300) || (v?.stdout ?? '').slice(0, 300)}`),
  );
  if (ran) {
    const failed = rows.filter((r) => r.status === 'FAIL').length;
    add('gen verify: exit status', v.rc === (failed > 0 ? 1 : 0), `exit ${v.rc} with ${failed} FAIL rows`);
    for (const r of rows) {
      const ok = r.status === 'PASS' || (r.status === 'ABSENT' && r.note === ABSENT_OK_NOTE);
      add(`verify: ${r.check}`, ok, `${r.status}: wanted ${r.wanted}, actual ${r.actual}${r.note ? ` (${r.note})` : ''}`);
    }
  }

  // --- what only the harness knows: the seeded instance, booted twice --------------------------
  if (seeded) {
    const ci = report.cloud_init ?? {};
    add("harness: instance-id is the seed's", ci.instance_id === seeded.instanceId, `${ci.instance_id}`);
    const verified = (report.verify?.result?.stack ?? []).join('+');
    add('harness: gen verify checked this stack', verified === seeded.stack, verified);
    if (seeded.boot === 1) {
      add('harness: runcmd ran on boot 1', ci.scripts_user === 'ran', ci.scripts_user);
    } else {
      add('harness: runcmd not re-run on boot 2', ci.scripts_user === 'already ran', ci.scripts_user);
      add(
        'harness: boot 2 is a new boot',
        !!seeded.firstBootId && seeded.firstBootId !== report.boot_id,
        `${seeded.firstBootId} -> ${report.boot_id}`,
      );
    }
  }
  return checks;
}

// --- storage: a pool on a device is the wanted driver on the wanted device -----------------------
/**
 * Checks for each pool of the tree's preseed whose source is a device (none for a dir pool): the
 * manager lists it with the wanted driver, created on the wanted device (`volatile.initial_source`:
 * btrfs replaces `source` with the file system's UUID, lvm with the volume group), and the device
 * holds it: for btrfs, `btrfs filesystem show` lists the device the by-id link points at; for lvm,
 * that device is a physical volume of the pool's volume group, which holds the wanted thin pool
 * (segtype thin-pool). Plain data in, checks out, like compare().
 * @param {{name: string, driver: string, config: Record<string, string>}[]} wanted the preseed's pools
 * @returns {{check: string, ok: boolean, detail: string}[]}
 */
export function compareStorage(wanted, report) {
  const checks = [];
  const add = (check, ok, detail = '') => checks.push({ check, ok: Boolean(ok), detail });
  const st = report.storage ?? {};
  for (const want of wanted) {
    const source = want.config?.source;
    if (!source?.startsWith('/dev/')) continue;
    const pools = Array.isArray(st.pools) ? st.pools : [];
    const pool = pools.find((p) => p.name === want.name);
    const have = pool
      ? `${pool.driver}, status ${pool.status}, source ${pool.config?.source}, created on ${pool.config?.['volatile.initial_source']}`
      : `not listed (${JSON.stringify(st.pools ?? null).slice(0, 200)})`;
    add(`storage: pool ${want.name} is ${want.driver}`, pool?.driver === want.driver && pool?.status === 'Created', have);
    add(`storage: pool ${want.name} was created on ${source}`, pool?.config?.['volatile.initial_source'] === source, have);
    const device = st.by_id?.[source] ?? (source.startsWith('/dev/disk/') ? undefined : source);
    if (want.driver === 'btrfs') {
      const show = typeof st.btrfs_show === 'string' ? st.btrfs_show : '';
      const listed = !!device && new RegExp(`\\bpath ${device.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}\\s*$`, 'm').test(show);
      add(
        `storage: btrfs on ${source}`,
        listed,
        `${source} -> ${device ?? 'no such link'}; btrfs filesystem show: ${show.trim().replace(/\s+/g, ' ').slice(0, 300) || JSON.stringify(st.btrfs_show)}`,
      );
    }
    if (want.driver === 'lvm') {
      const vg = want.config['lvm.vg_name'] ?? want.name;
      const thin = want.config['lvm.thinpool_name'];
      const pvs = Array.isArray(st.pvs) ? st.pvs : [];
      const lvs = Array.isArray(st.lvs) ? st.lvs : [];
      const pv = pvs.find((p) => p.pv_name === device);
      add(
        `storage: ${source} is a physical volume of ${vg}`,
        !!device && pv?.vg_name === vg,
        `${source} -> ${device ?? 'no such link'}; pvs: ${JSON.stringify(st.pvs).slice(0, 300)}`,
      );
      const lv = lvs.find((l) => l.vg_name === vg && l.lv_name === thin);
      add(
        `storage: ${vg} holds the thin pool ${thin}`,
        !!thin && lv?.segtype === 'thin-pool',
        `lvs: ${JSON.stringify(st.lvs).slice(0, 300)}`,
      );
    }
  }
  return checks;
}

/**
 * The storage pools of a `gen --out` tree's preseed (preseed/lxd.yaml or preseed/incus.yaml), read
 * from the block YAML gen writes: each `- name:` entry under `storage_pools:` with its driver and
 * its config's `key: value` lines (quotes dropped). [] when the tree has no preseed.
 */
export function treeStoragePools(tree) {
  for (const m of ['incus', 'lxd']) {
    const file = join(tree, 'preseed', `${m}.yaml`);
    if (existsSync(file)) return preseedStoragePools(readFileSync(file, 'utf8'));
  }
  return [];
}

/** The storage pools of a preseed's text (see treeStoragePools). */
export function preseedStoragePools(text) {
  const pools = [];
  let inPools = false;
  for (const line of text.split('\n')) {
    if (/^\S/.test(line)) inPools = /^storage_pools:/.test(line);
    if (!inPools) continue;
    let m = /^ {2}- name: (.+)$/.exec(line);
    if (m) pools.push({ name: unquote(m[1]), driver: '', config: {} });
    else if ((m = /^ {4}driver: (.+)$/.exec(line)) && pools.length) pools.at(-1).driver = unquote(m[1]);
    else if ((m = /^ {6}([^:\s]+): (.+)$/.exec(line)) && pools.length) pools.at(-1).config[m[1]] = unquote(m[2]);
  }
  return pools;
}

function unquote(v) {
  const t = v.trim();
  return /^"(.*)"$/.exec(t)?.[1] ?? t;
}

/** Counts of gen verify's rows in a report (for the summary table). */
export function verifyCounts(report) {
  const rows = report.verify?.result?.rows ?? [];
  return {
    total: rows.length,
    pass: rows.filter((r) => r.status === 'PASS').length,
    absent: rows.filter((r) => r.status === 'ABSENT').length,
    fail: rows.filter((r) => r.status === 'FAIL').length,
  };
}

const UNLIMITED = new Set(['unlimited', 'infinity']);
function atLeast(have, want) {
  if (UNLIMITED.has(String(have))) return true;
  if (UNLIMITED.has(String(want))) return false;
  return Number(have) >= Number(want);
}

/** limits.conf lines "domain type item value" (nofile, memlock, nproc only: what a session shows). */
export function parseLimitsConf(text) {
  const out = [];
  for (const line of text.split('\n')) {
    const t = line.replace(/#.*/, '').trim();
    if (!t) continue;
    const [domain, type, item, value] = t.split(/\s+/);
    if (['nofile', 'memlock', 'nproc'].includes(item)) out.push({ domain, type, item, value });
  }
  return out;
}

/** Each sysctl's mode from a `gen --out` tree's born-tuned/sysctl.wanted ("MODE KEY = VALUE" or
 * "MODE KEY from OTHER N" lines). */
export function treeSysctlModes(tree) {
  let text = '';
  try {
    text = readFileSync(join(tree, 'born-tuned', 'sysctl.wanted'), 'utf8');
  } catch {
    text = '';
  }
  return sysctlModes(text);
}

/** Each sysctl's mode from the text of a sysctl.wanted file. */
export function sysctlModes(text) {
  const modes = new Map();
  for (const line of text.split('\n')) {
    const m = /^(raise|exact|lower) (\S+) /.exec(line);
    if (m) modes.set(m[2], m[1]);
  }
  return modes;
}

/** The text of every limits.d file of a `gen --out` tree, concatenated ("" when it has none). */
export function treeLimits(tree) {
  const dir = join(tree, 'limits.d');
  let names = [];
  try {
    names = readdirSync(dir)
      .filter((n) => n.endsWith('.conf'))
      .sort();
  } catch {
    names = [];
  }
  return names.map((n) => readFileSync(join(dir, n), 'utf8')).join('\n');
}

// --- CLI ------------------------------------------------------------------------------------------
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const [tree, reportPath, instanceId, stack, boot, firstPath] = process.argv.slice(2);
  if (!tree || !reportPath || (instanceId !== undefined && !boot)) {
    process.stderr.write('usage: compare.mjs TREE REPORT_JSON [IID STACK BOOT [FIRST_REPORT_JSON]]\n');
    process.exit(2);
  }
  let checks;
  let report;
  try {
    report = JSON.parse(readFileSync(reportPath, 'utf8'));
    const firstBootId = firstPath && existsSync(firstPath) ? JSON.parse(readFileSync(firstPath, 'utf8')).boot_id : undefined;
    const seeded = instanceId === undefined ? undefined : { instanceId, stack, boot: Number(boot), firstBootId };
    checks = [...compare(treeLimits(tree), report, seeded, treeSysctlModes(tree)), ...compareStorage(treeStoragePools(tree), report)];
  } catch (e) {
    process.stderr.write(`compare.mjs: ${e.stack ?? e}\n`);
    process.exit(2);
  }
  const failed = checks.filter((c) => !c.ok).length;
  process.stdout.write(`${JSON.stringify({ passed: checks.length - failed, failed, verify: verifyCounts(report), checks }, null, 1)}\n`);
  process.exit(failed > 0 ? 1 : 0);
}
