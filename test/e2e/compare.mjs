#!/usr/bin/env node
// compare.mjs TREE REPORT_JSON [IID STACK BOOT [FIRST_REPORT_JSON]]
// compare.mjs --identity REPORT_A REPORT_B [REMOVED_IDENTITY_TXT]
//
// Host-side judge of one e2e boot. TREE is the `gen --out` tree of the stack (only its limits.d file
// is read); REPORT_JSON is what the booted guest reported (test/e2e/guest/report.mjs). IID, STACK
// (a+b) and BOOT (1, 2, or B: the first boot of a second host of a Packer image, whose light
// report has no drift and no container) are what boot.sh seeded; with them the harness's own checks are added:
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
//   - capacity (when the tree asks for it: modules-load.d, the subids step): root's first range of
//     at least 65536 ids in /etc/subuid and /etc/subgid holds the ids the step was given, every
//     module of the tree's modules-load.d file is loaded, and on boot 2 systemd-modules-load
//     itself inserted it (so the boot-time path works, not only first boot's modprobe);
//   - what `gen explain` claims of the kernel (src/facts/settings.ts): the manager's bridge is
//     noqueue, the NIC's qdiscs are fq_codel (under mq), /sys/kernel/slab lists no cgroups,
//     /proc/sched_debug is absent;
//   - born-tuned-verify, the verifier installed on the host (report.self_check): it ran, its exit
//     status matches its rows, and its rows are gen verify's but the manager's, word for word;
//   - drift (report.drift, on boot 2 only: once per stack is proof enough, and each run of both
//     verifiers costs the boot half a minute under TCG): with a raise key set below wanted, both
//     verifiers fail its row and exit 1, their rows agree, and the key was restored.
//   - the fence, when the tree has one (born-tuned/fence.nft): `nft -j list table inet
//     born_tuned_fence` shows it loaded, matching the tree's bridge; born-tuned-fence.service is
//     active and enabled; on boot 2 it came up no later than the manager's socket.
//   - the uplink, for a stack with a netplan file (TREE/network/60-born-tuned.yaml): each bond in
//     /proc/net/bonding in its mode, link up, exactly its members (by permanent MAC) enslaved with
//     link up and the bond as their master, the MTUs and static addresses asked, the default
//     route on the interface with the gateway, and the bridge at the preseed's bridge.mtu;
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
 * @param {{fence?: {bridge: string}, capacity?: {modules: string[], subids?: number}, uplinks?: ReturnType<typeof uplinksWanted>, storagePools?: ReturnType<typeof treeStoragePools>}} asked
 *   what the stack's tree asks for: its fence (treeFence; none when the stack has none), capacity
 *   (treeCapacity; left out: no capacity checks), uplink (treeUplinks: its netplan file and
 *   preseed; left out or empty: no uplink checks) and storage pools (treeStoragePools: its
 *   preseed's; left out, or none on a device: no storage checks)
 * @returns {{check: string, ok: boolean, detail: string}[]}
 */
export function compare(limitsConfText, report, seeded, wantedModes, asked = {}) {
  const { fence, capacity, uplinks, storagePools } = asked;
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

  // --- capacity: root's ranges and the modules loaded at boot ------------------------------------
  if (capacity) {
    const cap = report.capacity ?? {};
    if (capacity.subids !== undefined) {
      for (const file of ['subuid', 'subgid']) {
        const first = firstRootRange(cap[file]);
        add(
          `capacity: root's first range in /etc/${file} holds ${capacity.subids} ids`,
          first !== null && first.count >= capacity.subids,
          first ? `root:${first.start}:${first.count}` : `no root range of at least 65536 ids in ${JSON.stringify(cap[file] ?? null)}`,
        );
      }
    }
    for (const m of capacity.modules) {
      add(`capacity: module ${m} loaded`, cap.modules?.[m] === true, `/sys/module/${m}: ${cap.modules?.[m] ?? 'not reported'}`);
      if (seeded?.boot === 2) {
        // On boot 2 nothing of first boot's runcmd runs: the module is loaded at boot. Seen on
        // Debian 13: systemd-modules-load's journal is empty there, because the fence's table (its
        // ct state rule) has loaded nf_conntrack before it runs; so the journal must only not
        // say that modules-load.d failed to load it.
        const journal = Array.isArray(cap.modules_load_journal) ? cap.modules_load_journal : [];
        const failed = journal.filter((l) => l.includes(m) && /fail|not found|error/i.test(l));
        add(
          `capacity: ${m} loaded at boot 2 with no error from systemd-modules-load`,
          cap.modules?.[m] === true && failed.length === 0,
          failed.join(' | ') || journal.join(' | ') || 'no systemd-modules-load lines this boot',
        );
      }
    }
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

  // --- the fence: loaded by the kernel, its unit up, before the manager's socket on boot 2 -------
  if (fence) {
    const f = report.fence ?? {};
    const items = Array.isArray(f.table?.nftables) ? f.table.nftables : [];
    const onBridge = items.filter(
      (i) => i.rule && (i.rule.expr ?? []).some((e) => e.match?.left?.meta?.key === 'iifname' && e.match.right === fence.bridge),
    ).length;
    add(
      'fence: table inet born_tuned_fence loaded, on the bridge',
      f.nft_rc === 0 && onBridge >= 2,
      f.nft_rc === 0 ? `${onBridge} rules match iifname ${fence.bridge}` : `nft exit ${f.nft_rc}: ${f.nft_stderr ?? 'not reported'}`,
    );
    const unit = f.unit ?? {};
    add(
      'fence: born-tuned-fence.service active and enabled',
      unit.ActiveState === 'active' && unit.UnitFileState === 'enabled',
      `${unit.ActiveState ?? '?'}, ${unit.UnitFileState ?? '?'}, result ${unit.Result ?? '?'}`,
    );
    if (seeded?.boot === 2) {
      const up = Number(unit.ActiveEnterTimestampMonotonic ?? 0);
      const socket = Number(f.manager_socket?.ActiveEnterTimestampMonotonic ?? 0);
      add(
        "fence: up no later than the manager's socket (boot 2)",
        up > 0 && socket > 0 && up <= socket,
        `fence at ${up} us, socket at ${socket} us after boot`,
      );
    }
  }
  if (uplinks && (uplinks.interfaces.length > 0 || uplinks.bridgeMtu !== undefined)) compareUplinks(report.uplinks, uplinks, add);

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

  // --- born-tuned-verify: the host's own verifier says what gen verify says ----------------------
  const self = report.self_check;
  const selfRan = verifierRan(self);
  add('born-tuned-verify: ran in the guest', selfRan, self?.error ?? verifierDetail(self));
  if (selfRan) {
    const failed = self.result.rows.filter((r) => r.status === 'FAIL').length;
    add('born-tuned-verify: exit status', self.rc === (failed > 0 ? 1 : 0), `exit ${self.rc} with ${failed} FAIL rows`);
    if (ran) add("born-tuned-verify: gen verify's rows but the manager's", ...rowsAgree(rows, self.result.rows));
  }

  // VM B of the identity proof (seeded.boot 'B': a second host's first boot, its seed asks for a
  // light report) has no drift and no container: its proof is compareIdentity's.
  const light = seeded?.boot === 'B';
  if (light) add('harness: a light report (no drift, no container) for VM B', report.light === true, `light: ${report.light}`);

  // --- drift (boot 2 only): a raise key below wanted, caught by both verifiers -------------------
  // A report without `seeded` (a bare compare.mjs run) is judged as boot 2, so nothing is skipped.
  if (!light && seeded?.boot !== 1) driftChecks(report.drift, add);

  // --- a container on the generated default profile (report.container) --------------------------
  if (!light) checks.push(...containerChecks(report, fence !== undefined));

  // --- the storage pools on devices, when the tree's preseed has any ---------------------------
  if (storagePools) checks.push(...compareStorage(storagePools, report));

  // --- what only the harness knows: the seeded instance, booted twice --------------------------
  if (seeded) {
    const ci = report.cloud_init ?? {};
    add("harness: instance-id is the seed's", ci.instance_id === seeded.instanceId, `${ci.instance_id}`);
    const verified = (report.verify?.result?.stack ?? []).join('+');
    add('harness: gen verify checked this stack', verified === seeded.stack, verified);
    if (seeded.boot === 1 || seeded.boot === 'B') {
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

/** The drift checks (report.drift): both verifiers fail a raise key set below wanted, with the same rows. */
function driftChecks(drift, add) {
  add(
    'drift: a raise key was set below wanted',
    !!drift && !drift.error && drift.live_while_drifted === drift.set,
    drift?.error ?? `${drift?.key}: wanted ${drift?.wanted}, had ${drift?.had}, set ${drift?.set}, read ${drift?.live_while_drifted}`,
  );
  for (const [name, run] of [
    ['gen verify', drift?.verify],
    ['born-tuned-verify', drift?.self_check],
  ]) {
    const r = verifierRan(run) ? run.result.rows.find((x) => x.check === `sysctl ${drift.key}`) : undefined;
    add(
      `drift: ${name} caught it`,
      run?.rc === 1 && r?.status === 'FAIL',
      run?.error ?? `exit ${run?.rc}; ${r ? `${r.status}: wanted ${r.wanted}, actual ${r.actual}` : `no row sysctl ${drift?.key}`}`,
    );
  }
  if (verifierRan(drift?.verify) && verifierRan(drift?.self_check))
    add('drift: both verifiers report the same rows', ...rowsAgree(drift.verify.result.rows, drift.self_check.result.rows));
  else add('drift: both verifiers report the same rows', false, 'a verifier did not run');
  add('drift: the key was restored', drift?.restored === true, `restored: ${drift?.restored}`);
}

/**
 * The identity proof (issue 14, item 6): two hosts booted from one image (VM A and VM B, each its
 * own instance) must differ in machine-id, in every SSH host key and in the manager's TLS
 * certificate, and neither may have the build VM's certificate (the sha256 of the file 90-cleanup.sh
 * removed, when given). Each must report all three (a missing value fails: no vacuous pass), keep
 * every login's password locked and have sshd's PasswordAuthentication off. Plain data in, checks out.
 * @param {object} a VM A's report (its first boot)
 * @param {object} b VM B's report
 * @param {string | undefined} builtCertSha256 the build VM's server.crt, sha256 of the file
 * @returns {{check: string, ok: boolean, detail: string}[]}
 */
export function compareIdentity(a, b, builtCertSha256) {
  const checks = [];
  const add = (check, ok, detail = '') => checks.push({ check, ok: Boolean(ok), detail });
  const ia = a?.identity ?? null;
  const ib = b?.identity ?? null;
  add('identity: both hosts reported it', !!ia && !!ib, `A: ${ia ? 'yes' : 'no'}, B: ${ib ? 'yes' : 'no'}`);
  const id = (i) => (/^[0-9a-f]{32}$/.test(i?.machine_id ?? '') ? i.machine_id : null);
  add(
    'identity: machine-ids differ',
    !!id(ia) && !!id(ib) && id(ia) !== id(ib),
    `A ${ia?.machine_id || '(none)'}, B ${ib?.machine_id || '(none)'}`,
  );
  const keys = (i) =>
    Array.isArray(i?.ssh_host_keys) ? i.ssh_host_keys.map((k) => k.fingerprint).filter((f) => /^SHA256:/.test(f ?? '')) : [];
  const ka = keys(ia);
  const kb = keys(ib);
  const shared = ka.filter((k) => kb.includes(k));
  add(
    'identity: SSH host keys differ',
    ka.length > 0 && kb.length > 0 && shared.length === 0,
    `A ${ka.join(' ') || '(none)'}, B ${kb.join(' ') || '(none)'}${shared.length ? `; shared ${shared.join(' ')}` : ''}`,
  );
  const fp = (i) => (/^[0-9a-f]{64}$/.test(i?.manager_cert?.fingerprint ?? '') ? i.manager_cert.fingerprint : null);
  add(
    "identity: the manager's certificates differ",
    !!fp(ia) && !!fp(ib) && fp(ia) !== fp(ib),
    `A ${fp(ia) ?? '(none)'}, B ${fp(ib) ?? '(none)'}`,
  );
  if (builtCertSha256 !== undefined) {
    const files = [ia?.manager_cert?.file_sha256, ib?.manager_cert?.file_sha256];
    add(
      "identity: neither host has the build VM's certificate",
      /^[0-9a-f]{64}$/.test(builtCertSha256) && files.every((f) => /^[0-9a-f]{64}$/.test(f ?? '') && f !== builtCertSha256),
      `build ${builtCertSha256}, A ${files[0] ?? '(none)'}, B ${files[1] ?? '(none)'} (sha256 of server.crt)`,
    );
  }
  for (const [host, i] of [
    ['A', ia],
    ['B', ib],
  ]) {
    const logins = Array.isArray(i?.logins) ? i.logins : [];
    add(
      `identity: host ${host}: every login's password is locked`,
      logins.length > 0 && logins.every((l) => l.password === 'locked'),
      logins.map((l) => `${l.name} ${l.password}`).join(', ') || 'no login users reported',
    );
    add(
      `identity: host ${host}: sshd PasswordAuthentication no`,
      i?.sshd_password_authentication === 'no',
      `${i?.sshd_password_authentication ?? 'not reported'}`,
    );
  }
  return checks;
}

/** True when a verifier's JSON run ({rc, result}) gave rows with exit 0 or 1. */
function verifierRan(v) {
  return !!v && !v.error && Array.isArray(v.result?.rows) && v.result.rows.length > 0 && (v.rc === 0 || v.rc === 1);
}

function verifierDetail(v) {
  if (verifierRan(v)) return `${v.result.rows.length} rows, exit ${v.rc}`;
  return `exit ${v?.rc}; ${(v?.stderr ?? '').trim().slice(0, 300) || (v?.stdout ?? '').slice(0, 300) || 'not reported'}`;
}

/** The rows only gen verify has: the manager's (they name the manager first) and the uplink's
 * (bond, VLAN, MTU and the bridge's MTU rows, src/verify/uplinks.ts), which born-tuned-verify does
 * not check. */
const isManagerRow = (r) => /^(lxd|incus|bond|vlan|mtu|bridge\.mtu) /.test(r.check);

/**
 * Whether born-tuned-verify's rows are gen verify's without the manager's, field for field and in
 * order: [ok, detail] with the first differences.
 */
export function rowsAgree(genRows, selfRows) {
  const key = (r) => JSON.stringify([r.check, r.status, r.wanted, r.actual, r.note ?? null]);
  const want = genRows.filter((r) => !isManagerRow(r)).map(key);
  const have = selfRows.map(key);
  const diffs = [];
  for (let i = 0; i < Math.max(want.length, have.length); i++)
    if (want[i] !== have[i]) diffs.push(`#${i + 1}: gen verify ${want[i] ?? '(none)'} vs ${have[i] ?? '(none)'}`);
  return [diffs.length === 0, diffs.length === 0 ? `${have.length} rows alike` : diffs.slice(0, 3).join(' | ')];
}

/** root's first range of at least 65536 ids in the text of /etc/subuid or /etc/subgid (the one LXD
 * and Incus map instances from), or null. */
export function firstRootRange(text) {
  for (const line of String(text ?? '').split('\n')) {
    const m = /^root:(\d+):(\d+)$/.exec(line.trim());
    if (m && Number(m[2]) >= 65536) return { start: Number(m[1]), count: Number(m[2]) };
  }
  return null;
}

/** What a `gen --out` tree asks of capacity: the modules of its modules-load.d files, and the ids
 * its user-data's subids step gives root. Undefined when it asks for neither (a tree of an older gen). */
export function treeCapacity(tree) {
  const dir = join(tree, 'modules-load.d');
  let modules = [];
  try {
    modules = readdirSync(dir)
      .filter((n) => n.endsWith('.conf'))
      .sort()
      .flatMap((n) =>
        readFileSync(join(dir, n), 'utf8')
          .split('\n')
          .map((l) => l.replace(/#.*/, '').trim())
          .filter(Boolean),
      );
  } catch {
    modules = [];
  }
  let userData = '';
  try {
    userData = readFileSync(join(tree, 'user-data'), 'utf8');
  } catch {
    userData = '';
  }
  const ids = /born-tuned-subids, "?(\d+)"?/.exec(userData)?.[1];
  if (modules.length === 0 && ids === undefined) return undefined;
  return { modules, ...(ids !== undefined ? { subids: Number(ids) } : {}) };
}

/**
 * The container launched in the guest on the generated default profile: it runs with an address
 * in the bridge's subnet, its NIC has the profile's queue.tx.length, the host's DNS on the bridge
 * answers its name, and the played metadata service answers the host. On a fenced stack it reaches
 * neither the metadata listener nor the host's SSH port, and reaches the listener once the fence's
 * table is removed (the negative control), which the fence's unit then puts back. On a stack
 * without the fence it reaches the listener: the hole the fence closes.
 */
export function containerChecks(report, fenced) {
  const checks = [];
  const add = (check, ok, detail = '') => checks.push({ check, ok: Boolean(ok), detail });
  const c = report.container;
  const failedStep = (c?.steps ?? []).find((s) => s.rc !== 0 && s.name !== 'container to metadata' && s.name !== 'container to host ssh');
  add(
    'container: launched from the probe image',
    !!c && !c.error && c.status === 'RUNNING',
    c?.error ? `${c.error}${failedStep ? `: ${failedStep.name}: ${failedStep.stderr.trim().slice(0, 300)}` : ''}` : `status ${c?.status}`,
  );
  if (!c || c.error) return checks;
  const net = (Array.isArray(report.preseed?.networks) ? report.preseed.networks : []).find((n) => n.name === c.bridge);
  const cidr = net?.config?.['ipv4.address'] ?? null;
  add(
    'container: an IPv4 address in the bridge subnet',
    !!c.address && !!cidr && inSubnet(c.address, cidr),
    `${c.address} on ${c.bridge} ${cidr}`,
  );
  const q = c.profile_nic?.['queue.tx.length'];
  if (q !== undefined)
    add("container: eth0 has the profile's queue.tx.length", String(c.eth0_txqueuelen) === String(q), `${c.eth0_txqueuelen}, wanted ${q}`);
  add(
    "container: the host's DNS on the bridge answers its name",
    c.dns?.answered === true,
    `nslookup probe ${c.bridge_address}: rc ${c.dns?.rc}`,
  );
  add('container: the metadata listener answers the host (the probe works)', c.metadata_from_host === true, `${c.metadata_from_host}`);
  if (fenced) {
    add('fence: its table is loaded', c.fence_loaded === true, `${c.fence_loaded}`);
    add('fence: the container cannot reach 169.254.169.254', c.metadata_reached === false, `reached: ${c.metadata_reached}`);
    add(
      "fence: the container cannot reach the host's SSH port",
      c.host_ssh_reached === false,
      `${c.uplink_address}:22 reached: ${c.host_ssh_reached}`,
    );
    add(
      'fence: without its table the container reaches 169.254.169.254 (negative control)',
      c.metadata_reached_without_fence === true,
      `${c.metadata_reached_without_fence}`,
    );
    add('fence: its unit puts the table back', c.fence_restored === true, `${c.fence_restored}`);
  } else {
    add(
      'unfenced: the container reaches 169.254.169.254 (as the stack asks)',
      c.metadata_reached === true,
      `reached: ${c.metadata_reached}`,
    );
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

function inSubnet(address, cidr) {
  const [base, bits] = cidr.split('/');
  const toInt = (a) => a.split('.').reduce((n, o) => n * 256 + Number(o), 0);
  return Math.floor(toInt(address) / 2 ** (32 - Number(bits))) === Math.floor(toInt(base) / 2 ** (32 - Number(bits)));
}

/**
 * The uplink as the guest reports it (report.uplinks: `ip -j` links, addresses, default routes and
 * /proc/net/bonding) against what the tree asked (uplinksWanted), through `add`.
 */
export function compareUplinks(got, wanted, add) {
  if (!got) {
    add('uplink: reported', false, 'the report has no uplinks section');
    return;
  }
  const link = (name) => (got.links ?? []).find((l) => l.ifname === name);
  const addressesOf = (name) => (got.addresses ?? []).find((a) => a.ifname === name)?.addresses ?? [];
  for (const i of wanted.interfaces.filter((x) => x.kind === 'bond')) {
    const text = got.bonding?.[i.name];
    const b = parseBonding(text ?? '');
    add(
      `uplink: bond ${i.name} in /proc/net/bonding`,
      text != null,
      text != null ? '' : `bonds: ${Object.keys(got.bonding ?? {}).join(', ') || 'none'}`,
    );
    if (text == null) continue;
    add(`uplink: bond ${i.name} mode ${i.mode}`, b.mode === i.mode, `Bonding Mode: ${b.modeText}`);
    add(`uplink: bond ${i.name} link up`, b.mii === 'up', `MII Status: ${b.mii}`);
    const macs = i.members.map((m) => wanted.interfaces.find((x) => x.kind === 'ethernet' && x.name === m)?.mac);
    const slaves = b.slaves.map((s) => ({ ...s, master: link(s.name)?.master ?? null }));
    const ok =
      macs.every((mac) => mac !== undefined) &&
      slaves.length === macs.length &&
      macs.every((mac) => slaves.some((s) => s.permanent === mac && s.mii === 'up' && s.master === i.name));
    add(
      `uplink: bond ${i.name} has its ${i.members.length} members enslaved, link up`,
      ok,
      `wanted ${macs.join(', ')}; ${slaves.map((s) => `${s.name} ${s.permanent} MII ${s.mii} master ${s.master}`).join('; ') || 'no slaves'}`,
    );
    if (i.primary !== undefined) {
      const primaryMac = wanted.interfaces.find((x) => x.kind === 'ethernet' && x.name === i.primary)?.mac;
      const active = slaves.find((s) => s.name === b.active);
      add(
        `uplink: bond ${i.name} sends on its primary ${i.primary}`,
        active !== undefined && active.permanent === primaryMac,
        `active ${b.active} (${active?.permanent}), primary ${primaryMac}`,
      );
    }
    if (i.mtu !== undefined) {
      const wrong = slaves.filter((s) => link(s.name)?.mtu !== i.mtu).map((s) => `${s.name} ${link(s.name)?.mtu}`);
      add(`uplink: bond ${i.name} members mtu ${i.mtu}`, slaves.length > 0 && wrong.length === 0, wrong.join(', '));
    }
  }
  for (const i of wanted.interfaces.filter((x) => x.kind !== 'ethernet')) {
    if (i.mtu !== undefined)
      add(`uplink: ${i.name} mtu ${i.mtu}`, link(i.name)?.mtu === i.mtu, `${i.name} mtu ${link(i.name)?.mtu ?? 'no such link'}`);
    for (const a of i.addresses)
      add(
        `uplink: ${i.name} has ${a}`,
        addressesOf(i.name).includes(a),
        `${i.name}: ${addressesOf(i.name).join(', ') || 'no global address'}`,
      );
    if (i.gateway !== undefined) {
      const routes = got.default_routes ?? [];
      add(
        `uplink: default route via ${i.gateway} on ${i.name}`,
        routes.some((r) => r.dev === i.name && r.gateway === i.gateway),
        routes.map((r) => `${r.gateway} dev ${r.dev}`).join(', ') || 'no default route',
      );
    }
  }
  if (wanted.bridgeMtu !== undefined) {
    const bridges = (got.links ?? []).filter((l) => l.kind === 'bridge');
    add(
      `uplink: the manager's bridge mtu ${wanted.bridgeMtu} (preseed bridge.mtu)`,
      bridges.length > 0 && bridges.every((l) => l.mtu === wanted.bridgeMtu),
      bridges.map((l) => `${l.ifname} ${l.mtu}`).join(', ') || 'no bridge',
    );
  }
}

/** /proc/net/bonding/NAME: the mode (as netplan names it), the bond's MII status, the active
 * slave and each slave's name, MII status and permanent address. */
export function parseBonding(text) {
  const [head, ...slaveBlocks] = text.split(/^(?=Slave Interface: )/m);
  const field = (block, name) => new RegExp(`^${name}: (.*)$`, 'm').exec(block ?? '')?.[1]?.trim();
  const modeText = field(head, 'Bonding Mode') ?? '';
  const mode = /\(active-backup\)/.test(modeText) ? 'active-backup' : /802\.3ad/.test(modeText) ? '802.3ad' : modeText;
  return {
    mode,
    modeText,
    mii: field(head, 'MII Status'),
    active: field(head, 'Currently Active Slave'),
    slaves: slaveBlocks.map((b) => ({
      name: field(b, 'Slave Interface'),
      mii: field(b, 'MII Status'),
      permanent: field(b, 'Permanent HW addr'),
    })),
  };
}

/**
 * What a tree asks of the uplink: its netplan file's ethernets (their MAC), bonds and VLANs (MTU,
 * static addresses, gateway, a bond's mode, members and primary), and the preseed's bridge.mtu.
 * Both files are YAML that gen writes in one shape; this reads that shape only (plain JS, no YAML
 * library), and a file it cannot read asks for nothing, which the checks of verify's rows still
 * cover. The netplan file is the stack's, or one given as text.
 */
export function uplinksWanted(netplanText, preseedText) {
  const interfaces = [];
  let section = null;
  let cur = null;
  let parameters = false;
  for (const line of (netplanText ?? '').split('\n')) {
    let m;
    if ((m = /^  (ethernets|bonds|vlans):$/.exec(line))) {
      section = { ethernets: 'ethernet', bonds: 'bond', vlans: 'vlan' }[m[1]];
      cur = null;
    } else if (/^ {0,2}\S/.test(line)) section = null;
    else if (section && (m = /^    "?([^":\s]+)"?:$/.exec(line))) {
      cur = { kind: section, name: m[1], addresses: [], members: [] };
      interfaces.push(cur);
      parameters = false;
    } else if (cur && (m = /^      (\S+):(?: (.*))?$/.exec(line))) {
      parameters = m[1] === 'parameters';
      const list = /^\[(.*)\]$/
        .exec(m[2] ?? '')?.[1]
        ?.split(',')
        .map((x) => x.trim().replace(/^"|"$/g, ''));
      if (m[1] === 'mtu') cur.mtu = Number(m[2]);
      else if (m[1] === 'addresses' && list) cur.addresses = list;
      else if (m[1] === 'interfaces' && list) cur.members = list;
    } else if (cur && (m = /^        (\S+): "?([^"]*)"?$/.exec(line))) {
      if (m[1] === 'macaddress') cur.mac = m[2];
      else if (parameters && m[1] === 'mode') cur.mode = m[2];
      else if (parameters && m[1] === 'primary') cur.primary = m[2];
    } else if (cur && (m = /^ {10}via: "?([^"]*)"?$/.exec(line))) cur.gateway = m[1];
  }
  const mtu = /^ +bridge\.mtu: "(\d+)"$/m.exec(preseedText ?? '')?.[1];
  return { interfaces, ...(mtu !== undefined ? { bridgeMtu: Number(mtu) } : {}) };
}

/** uplinksWanted of a `gen --out` tree (nothing asked when it has no netplan file). */
export function treeUplinks(tree) {
  const readOr = (path) => {
    try {
      return readFileSync(path, 'utf8');
    } catch {
      return '';
    }
  };
  const preseedDir = join(tree, 'preseed');
  const preseeds = existsSync(preseedDir)
    ? readdirSync(preseedDir)
        .filter((n) => n.endsWith('.yaml'))
        .sort()
    : [];
  return uplinksWanted(readOr(join(tree, 'network', '60-born-tuned.yaml')), preseeds.map((n) => readOr(join(preseedDir, n))).join('\n'));
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

/** The fence of a `gen --out` tree: the bridge its born-tuned/fence.nft matches, or undefined when
 * the tree has none (the profile turned it off). */
export function treeFence(tree) {
  let text;
  try {
    text = readFileSync(join(tree, 'born-tuned', 'fence.nft'), 'utf8');
  } catch {
    return undefined;
  }
  return fenceOf(text);
}

/** The bridge a fence.nft's text matches (`iifname "NAME"`). */
export function fenceOf(text) {
  const m = /iifname "([^"]+)"/.exec(text);
  return { bridge: m ? m[1] : '' };
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
if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1] && process.argv[2] === '--identity') {
  // compare.mjs --identity REPORT_A REPORT_B [REMOVED_IDENTITY_TXT]: the identity proof of two hosts
  // of one image; REMOVED_IDENTITY_TXT holds 90-cleanup.sh's "removes .../server.crt (sha256 X)"
  // line of the build (packer-image.sh's removed-identity.txt).
  const [a, b, removed] = process.argv.slice(3);
  if (!a || !b) {
    process.stderr.write('usage: compare.mjs --identity REPORT_A REPORT_B [REMOVED_IDENTITY_TXT]\n');
    process.exit(2);
  }
  let checks;
  try {
    const built = removed ? (/server\.crt \(sha256 ([0-9a-f]{64})\)/.exec(readFileSync(removed, 'utf8'))?.[1] ?? '') : undefined;
    checks = compareIdentity(JSON.parse(readFileSync(a, 'utf8')), JSON.parse(readFileSync(b, 'utf8')), built);
  } catch (e) {
    process.stderr.write(`compare.mjs: ${e.stack ?? e}\n`);
    process.exit(2);
  }
  const failed = checks.filter((c) => !c.ok).length;
  process.stdout.write(
    `${JSON.stringify({ passed: checks.length - failed, failed, verify: { pass: 0, total: 0, absent: 0, fail: 0 }, checks }, null, 1)}\n`,
  );
  process.exit(failed > 0 ? 1 : 0);
} else if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
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
    const seeded = instanceId === undefined ? undefined : { instanceId, stack, boot: boot === 'B' ? 'B' : Number(boot), firstBootId };
    checks = compare(treeLimits(tree), report, seeded, treeSysctlModes(tree), {
      fence: treeFence(tree),
      capacity: treeCapacity(tree),
      uplinks: treeUplinks(tree),
      storagePools: treeStoragePools(tree),
    });
  } catch (e) {
    process.stderr.write(`compare.mjs: ${e.stack ?? e}\n`);
    process.exit(2);
  }
  const failed = checks.filter((c) => !c.ok).length;
  process.stdout.write(`${JSON.stringify({ passed: checks.length - failed, failed, verify: verifyCounts(report), checks }, null, 1)}\n`);
  process.exit(failed > 0 ? 1 : 0);
}
