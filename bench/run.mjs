// `npm run bench`: how long `gen` takes and how much memory it needs, on this machine.
//   1. start-up: `gen --profile incus-dense > /dev/null` against a bare `node -e 0`;
//   2. inventories of 1,000 and 10,000 hosts: `gen --inventory FILE --out DIR`;
//   3. `gen --profile incus-dense --out DIR` (in 1);
//   4. large profiles: 1,500 and 15,000 sysctl keys (cost must grow linearly with input size).
// Every figure is the median of several runs: wall time with hrtime around spawnSync; peak memory as
// the child's max RSS from /usr/bin/time, in separate runs (the wrapper would add to the wall time). It prints numbers and targets; it asserts nothing.
// Environment: BENCH_RUNS (start-up rounds, default 31), BENCH_INVENTORY_RUNS (default 3),
// BENCH_HOSTS (default "1000,5000,10000,50000": each pair ten times apart gets its ratio),
// BENCH_PROFILE_KEYS (default "1500,15000"), BENCH_GEN (command to benchmark, default bin/gen).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = dirname(dirname(fileURLToPath(import.meta.url)));
const GEN = process.env.BENCH_GEN ? process.env.BENCH_GEN.split(' ') : [join(ROOT, 'bin', 'gen')];
const RUNS = Number(process.env.BENCH_RUNS ?? 31);
const INVENTORY_RUNS = Number(process.env.BENCH_INVENTORY_RUNS ?? 3);
const HOSTS = (process.env.BENCH_HOSTS ?? '1000,5000,10000,50000').split(',').map(Number);
const PROFILE_KEYS = (process.env.BENCH_PROFILE_KEYS ?? '1500,15000').split(',').map(Number);
const TIME = '/usr/bin/time';

/** An inventory of N hosts on the shipped incus-dense + 10gbe stack, one NIC each. */
export function inventoryYaml(n) {
  const lines = ['defaults:', '  profiles: [incus-dense, 10gbe]', 'hosts:'];
  for (let i = 1; i <= n; i++) {
    const name = `node${String(i).padStart(String(n).length < 4 ? 4 : String(n).length, '0')}`;
    const mac = `52:54:00:${hex(i >> 16)}:${hex(i >> 8)}:${hex(i)}`;
    const ip = `10.0.${(i >> 8) & 255}.${i & 255}`;
    lines.push(`  ${name}:`, '    nics:', `      uplink: {mac: "${mac}", addresses: ["${ip}/16"], gateway: "10.0.255.254"}`);
  }
  return `${lines.join('\n')}\n`;
}
const hex = (b) => (b & 255).toString(16).padStart(2, '0');

/** A host profile with N sysctl keys beyond lxd-small's (short names: 15,000 fit the 256 KiB cap). */
export function largeProfileYaml(n) {
  const keys = Array.from({ length: n }, (_, i) => `  vm.k${i}: 1`);
  return `extends: lxd-small\nsysctl:\n${keys.join('\n')}\n`;
}

/** Ratios of the rows whose sizes are ten times apart: near 10 means linear. */
function tenfoldRatios(rows, unit) {
  for (const b of rows) {
    const a = rows.find((r) => r.n * 10 === b.n);
    if (a)
      console.log(
        `${b.n.toLocaleString('en')} / ${a.n.toLocaleString('en')} ${unit} (×10): wall ×${(b.ms / a.ms).toFixed(2)}, peak RSS ×${(b.rss / a.rss).toFixed(2)}`,
      );
  }
}

/** One run: wall ms, exit status, stderr; with `rss`, through /usr/bin/time for its max RSS (MiB).
 * stdout goes to /dev/null. Wall times come from runs without the time wrapper. */
function once(cmd, args, opts = {}) {
  const timed = opts.rss && haveTime ? [TIME, ['-f', '%M', '-o', rssFile, cmd, ...args]] : [cmd, args];
  const t0 = process.hrtime.bigint();
  const r = spawnSync(timed[0], timed[1], {
    cwd: opts.cwd ?? work,
    env: opts.env ?? process.env,
    stdio: ['ignore', 'ignore', 'pipe'],
    encoding: 'utf8',
    maxBuffer: 64 << 20,
  });
  const ms = Number(process.hrtime.bigint() - t0) / 1e6;
  let rss = NaN;
  if (opts.rss && haveTime) {
    try {
      rss = Number(spawnSync('tail', ['-n1', rssFile], { encoding: 'utf8' }).stdout.trim()) / 1024;
    } catch {}
  }
  return { ms, rss, status: r.status ?? -1, stderr: r.stderr ?? '' };
}

/** `runs` runs (after `before()` each; `args` may be a function, called after it), through
 * /usr/bin/time: medians, or the failure of the first failing run. For runs of seconds, where the
 * wrapper's own ~2 ms do not count. */
function measure(cmd, args, runs, before = () => {}) {
  const ms = [];
  const rss = [];
  for (let i = 0; i < runs; i++) {
    before();
    const r = once(cmd, typeof args === 'function' ? args() : args, { rss: true });
    if (r.status !== 0) return { failed: r };
    ms.push(r.ms);
    rss.push(r.rss);
  }
  return { ms: median(ms), min: Math.min(...ms), rss: median(rss), runs };
}

/**
 * Each command once per round, `rounds` times, so a change in the machine's load (other work,
 * CPU frequency) falls on every command alike and the ratios between them hold; then the peak
 * RSS of each from 3 runs through /usr/bin/time. An undefined command (not measured in this run)
 * gives an undefined result in its place.
 */
function measureRounds(commands, rounds) {
  const results = commands.map(() => ({ ms: [], failed: undefined }));
  for (let i = 0; i < rounds; i++) {
    commands.forEach((c, k) => {
      if (!c || results[k].failed) return;
      (c.before ?? (() => {}))();
      const r = once(c.cmd, c.args, { env: c.env });
      if (r.status !== 0) results[k].failed = r;
      else results[k].ms.push(r.ms);
    });
  }
  return commands.map((c, k) => {
    if (!c) return undefined;
    const res = results[k];
    if (res.failed) return { failed: res.failed };
    const rss = [0, 1, 2].map(() => {
      (c.before ?? (() => {}))();
      return once(c.cmd, c.args, { rss: true, env: c.env }).rss;
    });
    return { ms: median(res.ms), min: Math.min(...res.ms), rss: median(rss), runs: rounds };
  });
}

/** True when `dir` is on an ext4 file system without a journal (its device's journal_task is
 * "<none>"), where ext4 skips recently deleted inodes when it allocates new ones, slowly. */
function ext4WithoutJournal(dir) {
  try {
    const mounts = readFileSync('/proc/self/mounts', 'utf8')
      .split('\n')
      .map((l) => l.split(' '))
      .filter((f) => f.length > 2 && (dir === f[1] || dir.startsWith(f[1] === '/' ? '/' : `${f[1]}/`)))
      .sort((a, b) => b[1].length - a[1].length);
    const [device, , type] = mounts[0] ?? [];
    return type === 'ext4' && readFileSync(`/sys/fs/ext4/${basename(device)}/journal_task`, 'utf8').trim() === '<none>';
  } catch {
    return false;
  }
}

const median = (xs) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
};
const fmtMs = (ms) => (ms >= 10000 ? `${(ms / 1000).toFixed(1)} s` : ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${ms.toFixed(1)} ms`);
const fmtMiB = (m) => (Number.isFinite(m) ? `${m.toFixed(0)} MiB` : 'n/a');
const failure = (r) => `exit ${r.status}: ${r.stderr.trim().split('\n')[0] ?? ''}`;
const row = (cells, widths) => cells.map((c, i) => (i === 0 ? String(c).padEnd(widths[i]) : String(c).padStart(widths[i]))).join('  ');
function table(head, rows) {
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => String(r[i]).length)));
  console.log(row(head, widths));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const r of rows) console.log(row(r, widths));
}

const haveTime = existsSync(TIME);
const work = mkdtempSync(join(tmpdir(), 'born-tuned-bench-'));
const rssFile = join(work, 'rss');
process.on('exit', () => rmSync(work, { recursive: true, force: true }));

const node = process.execPath;
const genLabel = process.env.BENCH_GEN ?? 'gen (bin/gen)';
console.log(`born-tuned bench: node ${process.version}, ${genLabel}, medians of ${RUNS} runs (start-up) and ${INVENTORY_RUNS} (inventory)`);
if (!haveTime) console.log(`peak memory: n/a (${TIME} missing: apt-get install time)`);
if (!existsSync(join(ROOT, 'dist', 'gen.js'))) {
  console.log('dist/gen.js missing: run npm run build first');
  process.exit(1);
}
if (!process.env.BENCH_GEN)
  console.log(`startup snapshot: ${existsSync(join(ROOT, 'dist', 'gen.blob')) ? 'dist/gen.blob' : 'none (bin/gen runs dist/gen.js)'}`);

// Warm the page cache.
once(node, ['-e', '0']);
once(GEN[0], [...GEN.slice(1), '--profile', 'incus-dense']);

// 1. start-up, the commands interleaved round by round.
console.log('\n1. start-up');
const outDir = join(work, 'out-profile');
// bin/gen drops NODE_EXTRA_CA_CERTS (node would parse that file's certificates before any code
// runs; gen opens no TLS connection). When it is set here, `node -e 0` pays for it and gen does
// not, so node is also measured without it: that ratio compares like with like.
const caCerts = process.env.NODE_EXTRA_CA_CERTS;
const withoutCaCerts = { ...process.env };
delete withoutCaCerts.NODE_EXTRA_CA_CERTS;
const [bare, stdoutRun, outRun, bundleRun, bareNoCa] = measureRounds(
  [
    { cmd: node, args: ['-e', '0'] },
    { cmd: GEN[0], args: [...GEN.slice(1), '--profile', 'incus-dense'] },
    {
      cmd: GEN[0],
      args: [...GEN.slice(1), '--profile', 'incus-dense', '--out', outDir],
      before: () => rmSync(outDir, { recursive: true, force: true }),
    },
    // bin/gen without its snapshot: it falls back to dist/gen.js whenever NODE_OPTIONS is set.
    process.env.BENCH_GEN
      ? undefined
      : { cmd: GEN[0], args: ['--profile', 'incus-dense'], env: { ...process.env, NODE_OPTIONS: '--no-warnings' } },
    caCerts ? { cmd: node, args: ['-e', '0'], env: withoutCaCerts } : undefined,
  ],
  RUNS,
);
const startRows = [[caCerts ? 'node -e 0 (NODE_EXTRA_CA_CERTS set)' : 'node -e 0', bare]];
if (bareNoCa) startRows.push(['node -e 0 without NODE_EXTRA_CA_CERTS', bareNoCa]);
startRows.push(['gen --profile incus-dense > /dev/null', stdoutRun]);
if (bundleRun) startRows.push(['  (the same without the snapshot)', bundleRun]);
startRows.push(['gen --profile incus-dense --out DIR', outRun]);
table(
  ['command', 'wall (median)', 'wall (min)', 'peak RSS', '× node -e 0'],
  startRows.map(([name, r]) =>
    r.failed ? [name, failure(r.failed), '', '', ''] : [name, fmtMs(r.ms), fmtMs(r.min), fmtMiB(r.rss), `${(r.ms / bare.ms).toFixed(2)}×`],
  ),
);
if (!stdoutRun.failed) {
  console.log(
    `target (1): gen --profile incus-dense at most 1.5× node -e 0: ${(stdoutRun.ms / bare.ms).toFixed(2)}× — ${stdoutRun.ms / bare.ms <= 1.5 ? 'met' : 'NOT met'}`,
  );
  if (bareNoCa && !bareNoCa.failed) {
    console.log(
      `  against node -e 0 without NODE_EXTRA_CA_CERTS (${caCerts}), which gen drops: ${(stdoutRun.ms / bareNoCa.ms).toFixed(2)}×`,
    );
  }
}

// 2. inventories. Writing 40,000 files is mostly file-system work: the same runs are made with the
// output on the work directory's disk and on tmpfs (/dev/shm, when there is one), so the figures
// separate what gen costs from what the disk costs.
const OUTPUT_PLACES = [['disk', work], ...(existsSync('/dev/shm') ? [['tmpfs', mkdtempSync('/dev/shm/born-tuned-bench-')]] : [])];
process.on('exit', () => OUTPUT_PLACES.slice(1).forEach(([, d]) => rmSync(d, { recursive: true, force: true })));
for (const [place, base] of OUTPUT_PLACES) {
  console.log(`\n2. inventory: gen --inventory FILE --out DIR (incus-dense + 10gbe, one NIC per host), DIR on ${place} (${base})`);
  if (ext4WithoutJournal(base)) {
    console.log('note: ext4 without a journal here: for minutes after many files are deleted (a test run, an earlier');
    console.log('      bench), creating files costs ~0.7 ms of kernel time each (README, Performance)');
  }
  const inv = [];
  const written = [];
  for (const n of HOSTS) {
    const file = join(work, `hosts-${n}.yaml`);
    if (!existsSync(file)) writeFileSync(file, inventoryYaml(n));
    // Every run writes a new directory, all removed after the place's last run: this root
    // file system is ext4 without a journal, where creating inodes within minutes of deleting
    // many costs ~0.7 ms of kernel time each (ext4's recently_deleted() check, seen with perf).
    // sync before each run, so the previous run's writeback is not timed in this one.
    let dir = '';
    const next = () => {
      spawnSync('sync');
      dir = join(base, `out-${n}-${written.length + 1}`);
      written.push(dir);
    };
    const r = measure(GEN[0], () => [...GEN.slice(1), '--inventory', file, '--out', dir], INVENTORY_RUNS, next);
    if (r.failed) {
      console.log(`inventory: not available (${failure(r.failed)})`);
      break;
    }
    inv.push({ n, ...r });
  }
  for (const d of written) rmSync(d, { recursive: true, force: true });
  if (inv.length === 0) continue;
  table(
    ['hosts', 'wall (median)', 'per host', 'peak RSS'],
    inv.map((r) => [r.n.toLocaleString('en'), fmtMs(r.ms), `${((r.ms / r.n) * 1000).toFixed(0)} µs`, fmtMiB(r.rss)]),
  );
  tenfoldRatios(inv, 'hosts');
  const big = inv.find((r) => r.n === 10000);
  if (big)
    console.log(
      `target (2), output on ${place}: 10,000 hosts in at most 10 s and 512 MiB: ${fmtMs(big.ms)}, ${fmtMiB(big.rss)} — ${big.ms <= 10000 && big.rss <= 512 ? 'met' : 'NOT met'}`,
    );
  const huge = inv.find((r) => r.n === 50000);
  if (huge)
    console.log(`target (3), output on ${place}: 50,000 hosts within 1 GiB: ${fmtMiB(huge.rss)} — ${huge.rss <= 1024 ? 'met' : 'NOT met'}`);
}

// 4. large profiles: the same stack with ten times the keys should cost about ten times the work
// beyond start-up (a quadratic step shows as a ratio far above 10).
console.log('\n4. large profile: gen --profile FILE > /dev/null (lxd-small plus N sysctl keys)');
const big = [];
for (const n of PROFILE_KEYS) {
  const file = join(work, `large-${n}.yaml`);
  writeFileSync(file, largeProfileYaml(n));
  const r = measure(GEN[0], [...GEN.slice(1), '--profile', file], INVENTORY_RUNS);
  if (r.failed) {
    console.log(`large profile: not available (${failure(r.failed)})`);
    break;
  }
  big.push({ n, ...r });
}
if (big.length > 0) {
  table(
    ['keys', 'wall (median)', 'per key', 'peak RSS'],
    big.map((r) => [r.n.toLocaleString('en'), fmtMs(r.ms), `${((r.ms / r.n) * 1000).toFixed(0)} µs`, fmtMiB(r.rss)]),
  );
  tenfoldRatios(big, 'keys');
}
