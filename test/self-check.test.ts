import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { HOST_PATHS } from '../src/facts/host-paths.ts';
import { procSysPath } from '../src/facts/sysctl-names.ts';
import { generate } from '../src/pipeline.ts';
import { renderSelfCheck } from '../src/render/self-check.ts';
import type { VerifyRow } from '../src/verify/verify.ts';
import { genInProcess, profileArgs, ROOT, run, STACKS } from './helpers.ts';
import { goodHost } from './host-tree.ts';

/**
 * born-tuned-verify, the verifier installed on the host, run for real under dash against fake host
 * trees: its rows and exit code must be those of `gen verify --root` on the same tree (but the
 * manager's rows, which only gen verify asks for), as text, JSON and Prometheus textfile.
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-self-check-'));
const STACK = ['incus-dense', '10gbe'];

interface Report {
  version: number;
  stack: string[];
  root: string;
  rows: VerifyRow[];
  summary: { pass: number; fail: number; absent: number };
}

/** The verifier of a stack (as installed: from the tree itself) run by dash on `root`. */
function selfCheck(root: string, args: string[] = []): { status: number; stdout: string; stderr: string } {
  return run('dash', [join(root, HOST_PATHS.selfCheck), '--root', root, ...args]);
}

/** gen verify --root as JSON. */
async function genVerify(stack: string[], root: string, extra: string[] = []): Promise<{ status: number; report: Report }> {
  // Its stderr may hold the profile's warnings (lxd-small + 10gbe has one).
  const r = await genInProcess(['verify', ...extra, ...profileArgs(stack), '--root', root, '--format', 'json']);
  return { status: r.status, report: JSON.parse(r.stdout) as Report };
}

/** The rows gen verify has and the verifier has not: the manager's, asked only by gen verify. */
const managerRow = (stack: string[], profilesDir?: string) => {
  const name = generate({ profiles: stack, profilesDir }, { packer: false, secrets: 'withhold' }).stack.plan.manager.name;
  return (r: VerifyRow) => r.check.startsWith(`${name} `);
};

/** Runs both on `root` and asserts they agree: the same rows (but the manager's), the same exit code,
 * the same JSON framing. Returns the verifier's report. */
async function agree(stack: string[], root: string, extra: string[] = []): Promise<{ status: number; report: Report }> {
  const theirs = await genVerify(stack, root, extra);
  const ours = selfCheck(root, ['--json']);
  assert.is(ours.stderr, '', 'the verifier printed to stderr');
  const report = JSON.parse(ours.stdout) as Report;
  const dirAt = extra.indexOf('--profiles-dir');
  const isManager = managerRow(stack, dirAt === -1 ? undefined : extra[dirAt + 1]);
  assert.equal(
    report.rows,
    theirs.report.rows.filter((r) => !isManager(r)),
    'rows of born-tuned-verify and gen verify --root',
  );
  assert.is(ours.status, theirs.status, 'exit codes');
  assert.is(report.version, theirs.report.version);
  assert.equal(report.stack, theirs.report.stack);
  assert.is(report.root, theirs.report.root);
  const managerRows = theirs.report.rows.filter(isManager);
  assert.ok(
    managerRows.every((r) => r.status === 'ABSENT'),
    'under --root the manager is not asked',
  );
  assert.equal(report.summary, { ...theirs.report.summary, absent: theirs.report.summary.absent - managerRows.length });
  return { status: ours.status, report };
}

const rowOf = (report: Report, check: string): VerifyRow => {
  const row = report.rows.find((r) => r.check === check);
  if (!row) throw new Error(`no row ${check}`);
  return row;
};
const put = (root: string, path: string, text: string) => writeFileSync(join(root, path), text);

test('shellcheck -S style and dash -n accept the verifier of every shipped stack', () => {
  for (const stack of STACKS) {
    const root = goodHost(scratch, stack);
    const script = join(root, HOST_PATHS.selfCheck);
    const sc = run('shellcheck', ['-s', 'sh', '-S', 'style', script]);
    assert.is(sc.status, 0, sc.stdout);
    assert.is(run('dash', ['-n', script]).status, 0);
  }
});

test('negative: shellcheck catches an unquoted expansion in such a script', () => {
  const bad = join(scratch, 'bad.sh');
  writeFileSync(bad, '#!/bin/sh\nf=$1\nrm $f\n');
  assert.is.not(run('shellcheck', ['-s', 'sh', '-S', 'style', bad]).status, 0);
});

test('a host as promised: every row agrees, the verifier checks its own bytes, exit 0', async () => {
  const root = goodHost(scratch, STACK);
  const { status, report } = await agree(STACK, root);
  assert.is(status, 0);
  assert.is(rowOf(report, `file ${HOST_PATHS.selfCheck}`).actual, 'same bytes, 0755');
  assert.is(rowOf(report, 'sysctl net.core.netdev_max_backlog').wanted, '190194 (net.ipv4.tcp_mem word 1 at first boot)');
  assert.is(rowOf(report, 'sysctl vm.max_map_count').note, 'higher than wanted: kept (raise)');
  // The text table is gen verify's table without the manager's rows.
  const text = selfCheck(root);
  assert.is(text.status, 0);
  assert.match(text.stdout, /^STATUS {2}CHECK {2,}WANTED {2,}ACTUAL {2,}NOTE\n/);
  assert.match(text.stdout, new RegExp(`\\n\\n${report.summary.pass} passed, 0 failed, ${report.summary.absent} absent\\n$`));
});

test("this machine's own /, read live (no --root): both verifiers agree, stderr silent", async () => {
  // A live host that was never tuned: the computed file is missing (FAIL on a live host), no
  // daemon runs; the processes listed may come and go between the two runs.
  const generated = generate({ profiles: STACK }, { packer: false, secrets: 'withhold' });
  const script = join(scratch, 'live-verify');
  writeFileSync(script, generated.artifacts.find((a) => a.kind === 'self-check')!.text, { mode: 0o755 });
  const ours = run('dash', [script, '--json']);
  assert.is(ours.stderr, '');
  const theirs = await genInProcess(['verify', ...profileArgs(STACK), '--format', 'json']);
  const report = JSON.parse(ours.stdout) as Report;
  const isManager = managerRow(STACK);
  assert.equal(
    report.rows,
    (JSON.parse(theirs.stdout) as Report).rows.filter((r) => !isManager(r)),
  );
  assert.is(ours.status, theirs.status);
  assert.is(report.root, '/');
  assert.is(rowOf(report, `file ${HOST_PATHS.sysctl}`).actual, 'missing');
});

/** Each drift: what it does to a good host, and the rows it must fail or make absent. */
const drifts: { name: string; make: (root: string) => void; status: Record<string, VerifyRow['status']>; extra?: string[] }[] = [
  {
    name: 'a raise key below wanted',
    make: (root) => put(root, procSysPath('fs.inotify.max_user_watches'), '8192\n'),
    status: { 'sysctl fs.inotify.max_user_watches': 'FAIL' },
  },
  {
    name: 'an exact key different',
    make: (root) => put(root, procSysPath('kernel.dmesg_restrict'), '0\n'),
    status: { 'sysctl kernel.dmesg_restrict': 'FAIL' },
  },
  {
    name: 'a raise key above wanted (kept)',
    make: (root) => put(root, procSysPath('fs.aio-max-nr'), '1048576\n'),
    status: { 'sysctl fs.aio-max-nr': 'PASS' },
  },
  {
    name: 'a missing key',
    make: (root) => rmSync(join(root, procSysPath('vm.max_map_count'))),
    status: { 'sysctl vm.max_map_count': 'ABSENT' },
  },
  {
    name: 'a from_host key below what first boot recorded',
    make: (root) => put(root, procSysPath('net.core.netdev_max_backlog'), '190000\n'),
    status: { 'sysctl net.core.netdev_max_backlog': 'FAIL' },
  },
  {
    name: 'a from_host key with its source moved since first boot (held to the record)',
    make: (root) => put(root, procSysPath('net.ipv4.tcp_mem'), '190311\t253595\t380388\n'),
    status: {},
  },
  {
    name: 'a from_host key with no record: read from its source now',
    make: (root) => {
      put(root, HOST_PATHS.sysctl, readFileSync(join(root, HOST_PATHS.sysctl), 'utf8').replace(/^net\.core\.netdev_max_backlog.*\n/m, ''));
      put(root, procSysPath('net.ipv4.tcp_mem'), '190311\t253595\t380388\n');
    },
    status: { 'sysctl net.core.netdev_max_backlog': 'FAIL', [`file ${HOST_PATHS.sysctl}`]: 'FAIL' },
  },
  {
    name: 'a from_host key whose source is missing and not recorded',
    make: (root) => {
      put(root, HOST_PATHS.sysctl, readFileSync(join(root, HOST_PATHS.sysctl), 'utf8').replace(/^net\.core\.netdev_max_backlog.*\n/m, ''));
      rmSync(join(root, procSysPath('net.ipv4.tcp_mem')));
    },
    status: { 'sysctl net.core.netdev_max_backlog': 'ABSENT', [`file ${HOST_PATHS.sysctl}`]: 'FAIL' },
  },
  {
    name: 'a drifted limits file',
    make: (root) => put(root, HOST_PATHS.limits, `${readFileSync(join(root, HOST_PATHS.limits), 'utf8')}* soft nofile 1024\n`),
    status: { [`file ${HOST_PATHS.limits}`]: 'FAIL' },
  },
  {
    name: 'a file with the wrong mode',
    make: (root) => chmodSync(join(root, HOST_PATHS.sysctlWanted), 0o666),
    status: { [`file ${HOST_PATHS.sysctlWanted}`]: 'FAIL' },
  },
  {
    name: 'the verifier itself edited',
    make: (root) =>
      put(root, HOST_PATHS.selfCheck, readFileSync(join(root, HOST_PATHS.selfCheck), 'utf8').concat('# edited on the host\n')),
    status: { [`file ${HOST_PATHS.selfCheck}`]: 'FAIL' },
  },
  {
    name: 'the daemon with lower limits',
    make: (root) =>
      put(
        root,
        '/proc/4242/limits',
        'Max open files            1024                 1048576              files\nMax locked memory         65536                unlimited            bytes\n',
      ),
    status: { 'daemon limit nofile': 'FAIL', 'daemon limit memlock': 'FAIL' },
  },
  {
    name: 'no daemon running',
    make: (root) => rmSync(join(root, 'proc/4242'), { recursive: true }),
    status: { 'daemon limit nofile': 'ABSENT', 'daemon limit memlock': 'ABSENT' },
  },
  {
    name: 'the bridge with the default txqueuelen',
    make: (root) => put(root, '/sys/class/net/incusbr0/tx_queue_len', '1000\n'),
    status: { 'txqueuelen bridge incusbr0 (incusbr0)': 'FAIL' },
  },
  {
    name: 'slab readable by all',
    make: (root) => chmodSync(join(root, 'sys/kernel/slab'), 0o755),
    status: { 'mode /sys/kernel/slab': 'FAIL' },
  },
  {
    name: 'the computed file with a key lowered and one not wanted',
    make: (root) =>
      put(
        root,
        HOST_PATHS.sysctl,
        `${readFileSync(join(root, HOST_PATHS.sysctl), 'utf8').replace(/^vm\.max_map_count = .*$/m, 'vm.max_map_count = 65530')}kernel.panic = 10\nno equals sign\n`,
      ),
    status: { [`file ${HOST_PATHS.sysctl}`]: 'FAIL' },
  },
  {
    name: 'no computed file (an image not yet booted)',
    make: (root) => rmSync(join(root, HOST_PATHS.sysctl)),
    status: { [`file ${HOST_PATHS.sysctl}`]: 'ABSENT', 'sysctl net.core.netdev_max_backlog': 'PASS' },
  },
];

for (const d of drifts) {
  test(`drift, ${d.name}: both verifiers report it alike`, async () => {
    const good = (await agree(STACK, goodHost(scratch, STACK))).report;
    const root = goodHost(scratch, STACK);
    d.make(root);
    const { status, report } = await agree(STACK, root, d.extra);
    // The drift is seen (a test that cannot fail is a defect): only the named rows changed status.
    for (const r of report.rows) {
      const before = good.rows.find((g) => g.check === r.check)?.status ?? 'PASS';
      assert.is(r.status, d.status[r.check] ?? before, `${r.check}: ${JSON.stringify(r)}`);
    }
    assert.is(status, Object.values(d.status).includes('FAIL') ? 1 : 0);
  });
}

/** Outside every root: a file whose text must never reach either verifier's output. */
const SENTINEL = `SENTINEL-${process.pid}-outside-the-root`;
const outside = join(scratch, 'outside');
mkdirSync(outside);
writeFileSync(join(outside, 'shadow'), `${SENTINEL}\n`);

/** `path` under root made a link to `target` (whatever it was before). */
const linkAt = (root: string, path: string, target: string) => {
  rmSync(join(root, path), { recursive: true, force: true });
  symlinkSync(target, join(root, path));
};
/** A relative target from `path` (under root) that climbs out of it through `..` to `to` on the host. */
const climbTo = (path: string, to: string) => `${'../'.repeat(path.split('/').filter(Boolean).length + 4)}${to.slice(1)}`;

/**
 * --root DIR is a mounted image: a link in it is followed as a chroot would (an absolute target
 * starts at DIR, `..` stops at DIR), and a /proc or /sys path must stay in /proc or /sys. Each case:
 * both verifiers give the same rows (agree), the rows named, and nothing of the host's file.
 */
const escapes: { name: string; make: (root: string) => void; rows: Record<string, Partial<VerifyRow>> }[] = [
  {
    name: "an installed file linked to the host's /etc/shadow (absolute)",
    make: (root) => linkAt(root, HOST_PATHS.preseed, '/etc/shadow'),
    rows: { [`file ${HOST_PATHS.preseed}`]: { status: 'FAIL', wanted: 'present, 0600', actual: 'missing' } },
  },
  {
    name: 'an installed file linked out through .. (relative)',
    make: (root) => linkAt(root, HOST_PATHS.preseed, climbTo(HOST_PATHS.preseed, join(outside, 'shadow'))),
    rows: { [`file ${HOST_PATHS.preseed}`]: { status: 'FAIL', actual: 'missing' } },
  },
  {
    name: "/etc/subuid linked to the host's file outside the root (absolute)",
    make: (root) => linkAt(root, HOST_PATHS.subuid, join(outside, 'shadow')),
    rows: {
      [`ids root in ${HOST_PATHS.subuid}`]: { status: 'ABSENT', note: `no ${HOST_PATHS.subuid}: the daemon maps its default range` },
    },
  },
  {
    name: 'a sysctl linked out of the root (absolute)',
    make: (root) => linkAt(root, procSysPath('fs.aio-max-nr'), join(outside, 'shadow')),
    rows: { 'sysctl fs.aio-max-nr': { status: 'FAIL', actual: '-', note: '/proc/sys/fs/aio-max-nr is a symbolic link out of /proc' } },
  },
  {
    name: 'a sysctl linked out of the root through .. (relative)',
    make: (root) => linkAt(root, procSysPath('fs.aio-max-nr'), climbTo(procSysPath('fs.aio-max-nr'), join(outside, 'shadow'))),
    rows: { 'sysctl fs.aio-max-nr': { status: 'FAIL', note: '/proc/sys/fs/aio-max-nr is a symbolic link out of /proc' } },
  },
  {
    name: "a directory of /sys linked to the image's /etc (out of /sys, inside the root)",
    make: (root) => linkAt(root, 'sys/kernel/slab', '../../etc'),
    rows: { 'mode /sys/kernel/slab': { status: 'FAIL', note: '/sys/kernel/slab is a symbolic link out of /sys' } },
  },
  {
    name: 'an installed file that is a link loop',
    make: (root) => linkAt(root, HOST_PATHS.sysctlWanted, 'sysctl.wanted'),
    rows: {
      [`file ${HOST_PATHS.sysctlWanted}`]: {
        status: 'FAIL',
        actual: 'unreadable',
        note: `${HOST_PATHS.sysctlWanted} is a symbolic link loop (more than 40 links to follow)`,
      },
    },
  },
  {
    // Negative control: a link that stays in the image is followed, absolute or relative.
    name: "installed files linked to the image's own copies (absolute and relative): followed, PASS",
    make: (root) => {
      for (const [path, to] of [
        [HOST_PATHS.preseed, `${HOST_PATHS.preseed}.real`],
        [HOST_PATHS.sysctlWanted, 'sysctl.wanted.real'],
      ] as const) {
        renameSync(join(root, path), join(root, `${path}.real`));
        symlinkSync(to, join(root, path));
      }
    },
    rows: {
      [`file ${HOST_PATHS.preseed}`]: { status: 'PASS', actual: 'same bytes, 0600' },
      [`file ${HOST_PATHS.sysctlWanted}`]: { status: 'PASS', actual: 'same bytes, 0644' },
    },
  },
];

for (const e of escapes) {
  test(`--root, ${e.name}: both verifiers give the same rows, nothing of the host's file`, async () => {
    const root = goodHost(scratch, STACK);
    e.make(root);
    const { status, report } = await agree(STACK, root);
    for (const [check, want] of Object.entries(e.rows)) {
      const row = rowOf(report, check);
      for (const [k, v] of Object.entries(want)) assert.is(row[k as keyof VerifyRow], v, `${check}: ${JSON.stringify(row)}`);
    }
    const table = selfCheck(root);
    for (const out of [JSON.stringify(report), table.stdout, table.stderr]) assert.not.ok(out.includes('SENTINEL'), out);
    assert.is(status, Object.values(e.rows).some((r) => r.status === 'FAIL') ? 1 : 0);
  });
}

test('a lower key above wanted fails, one below passes (kept), in both verifiers', async () => {
  const profilesDir = join(scratch, 'profiles');
  mkdirSync(profilesDir, { recursive: true });
  writeFileSync(
    join(profilesDir, 'modes.yaml'),
    'extends: incus-dense\nsysctl:\n  net.ipv4.tcp_fin_timeout: {value: 30, mode: lower}\n  net.ipv4.tcp_keepalive_time: {value: 600, mode: lower}\n',
  );
  const stack = ['modes'];
  const root = goodHost(scratch, stack, profilesDir);
  put(root, procSysPath('net.ipv4.tcp_fin_timeout'), '60\n');
  put(root, procSysPath('net.ipv4.tcp_keepalive_time'), '300\n');
  const { status, report } = await agree(stack, root, ['--profiles-dir', profilesDir]);
  assert.is(status, 1);
  assert.equal(rowOf(report, 'sysctl net.ipv4.tcp_fin_timeout'), {
    check: 'sysctl net.ipv4.tcp_fin_timeout',
    status: 'FAIL',
    wanted: '<= 30',
    actual: '60',
  });
  assert.is(rowOf(report, 'sysctl net.ipv4.tcp_keepalive_time').note, 'lower than wanted: kept (lower)');
});

test('property: over the shipped stacks and random kernel values, both verifiers agree', async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.constantFrom(...STACKS),
      fc.array(fc.tuple(fc.nat(40), fc.oneof(fc.nat(2_000_000), fc.constant(-1))), { maxLength: 4 }),
      async (stack, changes) => {
        const root = goodHost(scratch, stack);
        const plan = generate({ profiles: stack }, { packer: false, secrets: 'withhold' }).stack.plan;
        for (const [i, value] of changes) {
          const s = plan.sysctl[i % plan.sysctl.length]!;
          if (value < 0) rmSync(join(root, procSysPath(s.key)), { force: true });
          else put(root, procSysPath(s.key), `${s.value.includes(' ') ? `${value} ${value} ${value}` : value}\n`);
        }
        await agree(stack, root);
        rmSync(root, { recursive: true });
      },
    ),
    { numRuns: 12, seed: 16 },
  );
});

/** The Prometheus text exposition format, as node_exporter's textfile collector reads it: HELP and
 * TYPE lines, then samples `name{label="value",...} number`. Returns the samples. */
function parseTextfile(text: string): { name: string; labels: Record<string, string>; value: number }[] {
  // Plain errors: uvu's assert.throws lets its own assertion errors through.
  const must: (ok: unknown, why: string) => asserts ok = (ok, why) => {
    if (!ok) throw new Error(why);
  };
  must(text.endsWith('\n'), 'ends with a line break');
  const samples: { name: string; labels: Record<string, string>; value: number }[] = [];
  const typed = new Set<string>();
  for (const line of text.slice(0, -1).split('\n')) {
    const meta = /^# (HELP|TYPE) ([a-zA-Z_:][a-zA-Z0-9_:]*) (.+)$/.exec(line);
    if (meta) {
      if (meta[1] === 'TYPE') {
        must(meta[3] === 'gauge', line);
        typed.add(meta[2]!);
      }
      continue;
    }
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{((?:[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*",?)*)\})? (-?\d+(?:\.\d+)?)$/.exec(line);
    must(m, `not a sample line: ${JSON.stringify(line)}`);
    must(typed.has(m[1]!), `${m[1]} has no TYPE before it`);
    const labels: Record<string, string> = {};
    for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g))
      labels[l[1]!] = l[2]!.replace(/\\(.)/g, (_, c: string) => (c === 'n' ? '\n' : c));
    samples.push({ name: m[1]!, labels, value: Number(m[3]) });
  }
  return samples;
}

test('--textfile: one gauge per check with its state, the counts and the time, written by rename', async () => {
  const root = goodHost(scratch, STACK);
  put(root, procSysPath('fs.inotify.max_user_watches'), '8192\n');
  const dir = join(scratch, 'textfile');
  mkdirSync(dir, { recursive: true });
  const out = join(dir, 'born-tuned.prom');
  writeFileSync(out, 'old\n');
  const before = Math.floor(Date.now() / 1000);
  const r = selfCheck(root, ['--json', '--textfile', out]);
  assert.is(r.status, 1);
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(readdirSync(dir), ['born-tuned.prom'], 'no temporary file is left');
  const samples = parseTextfile(readFileSync(out, 'utf8'));
  const checks = samples.filter((s) => s.name === 'born_tuned_verify_check');
  assert.equal(
    checks.map((s) => [`${s.labels.kind} ${s.labels.key}`, s.labels.state, s.value]),
    report.rows.map((row) => [row.check, row.status, row.status === 'PASS' ? 1 : 0]),
  );
  const count = (state: string) => samples.find((s) => s.name === 'born_tuned_verify_checks' && s.labels.state === state)!.value;
  assert.equal([count('PASS'), count('FAIL'), count('ABSENT')], [report.summary.pass, report.summary.fail, report.summary.absent]);
  const at = samples.find((s) => s.name === 'born_tuned_verify_last_run_timestamp_seconds')!.value;
  assert.ok(at >= before && at <= Math.ceil(Date.now() / 1000), `timestamp ${at}`);
});

test('negative: the textfile parser refuses what the collector would', () => {
  for (const bad of [
    'born_tuned_verify_checks{state="PASS"} 1\n',
    '# TYPE x gauge\nx{a="b} 1\n',
    '# TYPE x gauge\nx 1',
    '# TYPE x gauge\nx one\n',
  ])
    assert.throws(() => parseTextfile(bad), undefined, bad);
});

test('--textfile into a directory that does not exist: exit 2, the rows still printed', () => {
  const root = goodHost(scratch, STACK);
  const r = selfCheck(root, ['--textfile', join(scratch, 'no-such-dir', 'x.prom')]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /born-tuned-verify: cannot write in .*no-such-dir/);
  assert.match(r.stdout, /passed, 0 failed/);
});

test('usage errors: exit 2 with one sentence', () => {
  const root = goodHost(scratch, STACK);
  for (const args of [['--bogus'], ['--root', join(scratch, 'nope')], ['--textfile']]) {
    const r = run('dash', [join(root, HOST_PATHS.selfCheck), ...args]);
    assert.is(r.status, 2, args.join(' '));
    assert.match(r.stderr, /born-tuned-verify/);
  }
});

test('hostile profile values are one shell word each: nothing in them runs', () => {
  const generated = generate({ profiles: STACK }, { packer: false, secrets: 'withhold' });
  const plan = structuredClone(generated.stack.plan);
  const pwned = join(scratch, 'pwned');
  const hostile = `x'$(touch ${pwned})\`touch ${pwned}\`"$HOME;touch ${pwned}`;
  plan.sysctl = [...plan.sysctl, { key: 'net.ipv4.hostile', value: hostile, mode: 'exact', modeFrom: 'test', from: { derived: 'test' } }];
  plan.stack = [hostile];
  plan.txqueuelen = [{ id: hostile, kind: 'nic', match: { name: hostile }, txqueuelen: 1 }];
  const preseed = generated.artifacts.find((a) => a.kind === 'preseed')!;
  const hostFiles = generated.artifacts.filter((a) => a.hostPath && a.kind !== 'self-check');
  const script = renderSelfCheck(plan, generated.artifacts[0]!.text.split('\n')[1]!.slice(2), hostFiles, preseed);
  const root = goodHost(scratch, STACK);
  put(root, HOST_PATHS.selfCheck, script.text);
  put(root, procSysPath('net.ipv4.hostile'), `${hostile}\n`);
  const r = selfCheck(root, ['--json']);
  assert.not.ok(existsSync(pwned), 'a profile value ran as a command');
  const report = JSON.parse(r.stdout) as Report;
  assert.equal(report.stack, [hostile]);
  assert.is(rowOf(report, 'sysctl net.ipv4.hostile').wanted, hostile);
  assert.is(rowOf(report, 'sysctl net.ipv4.hostile').status, 'PASS');
  assert.is(rowOf(report, `txqueuelen nic ${hostile}`).status, 'ABSENT');
  // At warning level: the info SC2016 ("expressions don't expand in single quotes") is the point here.
  const sc = run('shellcheck', ['-s', 'sh', '-S', 'warning', join(root, HOST_PATHS.selfCheck)]);
  assert.is(sc.status, 0, sc.stdout);
});

/** systemd-analyze verify on the timer units under a root holding them, the verifier and this
 * machine's own units (the targets they name): its stderr, empty when systemd takes them as they are. */
function analyzeUnits(service: string, timer: string, verifier: string): string {
  const root = mkdtempSync(join(scratch, 'units-'));
  mkdirSync(join(root, 'etc/systemd/system'), { recursive: true });
  mkdirSync(join(root, 'usr/local/sbin'), { recursive: true });
  mkdirSync(join(root, 'usr/lib/systemd'), { recursive: true });
  assert.is(run('cp', ['-r', '/usr/lib/systemd/system', join(root, 'usr/lib/systemd/')]).status, 0);
  writeFileSync(join(root, HOST_PATHS.selfCheckService), service);
  writeFileSync(join(root, HOST_PATHS.selfCheckTimer), timer);
  writeFileSync(join(root, HOST_PATHS.selfCheck), verifier, { mode: 0o755 });
  const r = run('systemd-analyze', ['verify', `--root=${root}`, 'born-tuned-verify.timer', 'born-tuned-verify.service']);
  return `${r.status === 0 ? '' : `exit ${r.status}\n`}${r.stderr}`;
}

/** The cloud-config gen built for a stack's user-data. */
function userData(generated: ReturnType<typeof generate>): Record<string, unknown> {
  const a = generated.artifacts.find((x) => x.kind === 'user-data')!;
  if (a.format !== 'cloud-config') throw new Error(`user-data is ${a.format}`);
  return a.data;
}

test('verify.timer: a service and timer systemd accepts, enabled at first boot after the preseed', () => {
  const fixture = join(ROOT, 'test/fixtures/valid/verify-timer.yaml');
  const generated = generate({ profiles: [fixture] }, { packer: false, secrets: 'withhold' });
  const text = (kind: string, path: string) => generated.artifacts.find((a) => a.kind === kind && a.hostPath === path)!.text;
  const service = text('self-check-timer', HOST_PATHS.selfCheckService);
  const timer = text('self-check-timer', HOST_PATHS.selfCheckTimer);
  assert.match(
    service,
    /^ExecStart=\/usr\/local\/sbin\/born-tuned-verify --textfile \/var\/lib\/prometheus\/node-exporter\/born-tuned\.prom$/m,
  );
  assert.match(timer, /^OnUnitActiveSec=30min$/m);
  assert.is(analyzeUnits(service, timer, text('self-check', HOST_PATHS.selfCheck)), '');
  // Negative control: systemd-analyze speaks up about a value it cannot take.
  assert.match(analyzeUnits(service, timer.replace('=30min', '=30 bananas'), '#!/bin/sh\n'), /Failed to parse timer value/);
  // Each step without born-tuned-step and its --needs guards (the preseed needs the device checks).
  const runcmd = (userData(generated).runcmd as string[][]).map((c) =>
    c
      .slice(1)
      .join(' ')
      .replace(/^(--needs \S+ )+/, ''),
  );
  const at = (step: string) => runcmd.findIndex((c) => c.startsWith(`${step} `));
  assert.ok(at('verify-timer') > at('preseed') && at('preseed') > 0, runcmd.join('\n'));
  assert.is(runcmd[at('verify-timer')], 'verify-timer systemctl enable --now born-tuned-verify.timer');
  // Without verify.timer the verifier is installed and no unit is.
  const plain = generate({ profiles: ['incus-dense'] }, { packer: false, secrets: 'withhold' });
  assert.ok(plain.artifacts.some((a) => a.kind === 'self-check'));
  assert.not.ok(plain.artifacts.some((a) => a.kind === 'self-check-timer'));
  assert.not.ok(JSON.stringify(userData(plain)).includes('verify-timer'));
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));
test.run();
