import { parse as parseYaml } from 'yaml';
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../src/pipeline.ts';
import { nftIfname, UnsafeValueError } from '../src/render/helpers.ts';
import { fenceTableProblem, liveFenceQuery } from '../src/verify/fence-checks.ts';
import { verifyHost } from '../src/verify/verify.ts';
import { gen, profileArgs, run } from './helpers.ts';
import { goodHost } from './host-tree.ts';

/**
 * The fence (templates/fence.nft.hbs) checked by the real nft 1.0.6 (`nft -c`), and then loaded
 * into network namespaces on this machine's kernel, where it must do what it says: an "instance"
 * namespace behind a veth on a bridge named like the profile's reaches the host's DNS on the bridge
 * (IPv4 and IPv6, the neighbour cache emptied first, so neighbour discovery goes through the
 * table) and nothing else of the host, and not the metadata addresses, whether the host holds them
 * (input) or routes to them (forward). Each probe is first run without the table, where it must
 * reach its listener: a probe that cannot reach anything proves nothing.
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-fence-'));
/** A bridge name the schema accepts and nft could misread unquoted: a leading `-`, dots, digits. */
const HOSTILE_BRIDGE = '-0.x_Y-9a.b';
const profilesDir = join(scratch, 'profiles');
run('mkdir', ['-p', profilesDir]);
writeFileSync(join(profilesDir, 'hostile.yaml'), `extends: lxd-small\nbridge: {name: "${HOSTILE_BRIDGE}"}\n`);
writeFileSync(
  join(profilesDir, 'open.yaml'),
  'extends: incus-dense\nfence: {enabled: false, reason: "single-tenant CI runner: instances are our own jobs"}\n',
);

/** The fence files of a stack, by their path in the output tree. */
function fenceFiles(args: string[]): Record<string, string> {
  const r = gen([...args, '--artifact', 'fence']);
  assert.is(r.status, 0, r.stderr);
  const files: Record<string, string> = {};
  for (const part of r.stdout.split(/^==> /m).slice(1)) {
    const nl = part.indexOf(' <==\n');
    files[part.slice(0, nl)] = part.slice(nl + 5).replace(/\n$/, '\n');
  }
  return files;
}

function rulesOf(args: string[]): string {
  const files = fenceFiles(args);
  // The separator's blank line belongs to the listing, not to the file.
  return files['born-tuned/fence.nft']!.replace(/\n\n$/, '\n');
}

const CASES: [string, string[], string][] = [
  ['lxd-small', profileArgs(['lxd-small']), 'lxdbr0'],
  ['incus-dense + 10gbe', profileArgs(['incus-dense', '10gbe']), 'incusbr0'],
  [`a bridge named ${HOSTILE_BRIDGE}`, ['--profiles-dir', profilesDir, '--profile', 'hostile'], HOSTILE_BRIDGE],
];

for (const [name, args, bridge] of CASES) {
  test(`nft -c accepts the fence of ${name}; it matches the bridge by name, quoted`, () => {
    const file = join(scratch, `${bridge}.nft`);
    writeFileSync(file, rulesOf(args));
    const r = run('nft', ['-c', '-f', file]);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.is(r.stdout + r.stderr, '');
    const rules = rulesOf(args);
    assert.is(rules.split(`iifname "${bridge}"`).length - 1, 3, 'input jumps and forward drops on the bridge, and nowhere else');
  });

  test(`systemd-analyze verify accepts the fence unit of ${name} without a word`, () => {
    const dir = mkdtempSync(join(scratch, 'unit-'));
    const file = join(dir, 'born-tuned-fence.service');
    writeFileSync(file, fenceFiles(args)['systemd/born-tuned-fence.service']!);
    const r = run('systemd-analyze', ['verify', file]);
    assert.is(r.status, 0, r.stdout + r.stderr);
    assert.is(r.stdout + r.stderr, '');
  });
}

test('the checks can fail: nft -c refuses a broken rule, systemd-analyze names an unknown key', () => {
  const file = join(scratch, 'broken.nft');
  writeFileSync(file, rulesOf(profileArgs(['lxd-small'])).replace('ip daddr 169.254.0.0/16 drop', 'ip daddr 169.254.0.0/16 dorp'));
  const r = run('nft', ['-c', '-f', file]);
  assert.is(r.status, 1, r.stdout + r.stderr);
  assert.match(r.stderr, /dorp/);
  const unit = join(mkdtempSync(join(scratch, 'unit-')), 'born-tuned-fence.service');
  writeFileSync(unit, fenceFiles(profileArgs(['lxd-small']))['systemd/born-tuned-fence.service']!.replace('Before=', 'Befor='));
  assert.match(run('systemd-analyze', ['verify', unit]).stderr, /Unknown key 'Befor'/);
});

test('the unit is ordered before every unit that runs or wakes the manager, after nftables.service', () => {
  const lxd = fenceFiles(profileArgs(['lxd-small']))['systemd/born-tuned-fence.service']!;
  assert.match(lxd, /^Before=network-pre\.target shutdown\.target lxd-containers\.service lxd\.service lxd\.socket$/m);
  const incus = fenceFiles(profileArgs(['incus-dense']))['systemd/born-tuned-fence.service']!;
  assert.match(
    incus,
    /^Before=network-pre\.target shutdown\.target incus-startup\.service incus-user\.service incus\.service incus-user\.socket incus\.socket$/m,
  );
  for (const unit of [lxd, incus]) {
    assert.match(unit, /^After=nftables\.service$/m);
    assert.match(unit, /^DefaultDependencies=no$/m);
    assert.match(unit, /^WantedBy=sysinit\.target$/m);
  }
});

test('nft strings: only interface-name characters are written; a wildcard or a quote is refused', () => {
  assert.is(nftIfname('lxdbr0'), '"lxdbr0"');
  assert.is(nftIfname(HOSTILE_BRIDGE), `"${HOSTILE_BRIDGE}"`);
  for (const bad of ['br*', 'a"b', 'a\\b', '', 'x'.repeat(16), 'a b'])
    assert.throws(
      () => nftIfname(bad),
      (e: unknown) => e instanceof UnsafeValueError,
    );
});

test('the nftables step of user-data is POSIX sh that shellcheck accepts', () => {
  const r = gen([...profileArgs(['lxd-small']), '--artifact', 'user-data']);
  const step = /- nftables\n\s+- sh\n\s+- -c\n\s+- \|-\n((?: {6}.*\n)+)/.exec(r.stdout);
  assert.ok(step, 'no nftables step');
  const script = step[1]!.replace(/^ {6}/gm, '');
  const file = join(scratch, 'nftables-step.sh');
  writeFileSync(file, `#!/bin/sh\n${script}`);
  const sc = run('shellcheck', ['-s', 'sh', file]);
  assert.is(sc.status, 0, sc.stdout + sc.stderr);
  assert.is(run('dash', ['-n', file]).status, 0);
});

test('fence: {enabled: false, reason}: no fence files, no steps, and explain shows the reason', () => {
  const args = ['--profiles-dir', profilesDir, '--profile', 'open'];
  const r = gen([...args, '--artifact', 'fence']);
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /this stack has no fence artifact/);
  const ud = gen(args);
  assert.is(ud.status, 0, ud.stderr);
  // No fence file and no fence step (the on-host verifier's text knows how to check a fence, used or not).
  const config = parseYaml(ud.stdout) as { write_files: { path: string }[]; runcmd: string[][] };
  assert.not.match(config.write_files.map((f) => f.path).join('\n'), /fence|nftables/);
  assert.not.match(JSON.stringify(config.runcmd), /fence|nftables/);
  const explain = gen(['explain', ...args, '--format', 'json']);
  assert.is(explain.status, 0, explain.stderr);
  const row = (JSON.parse(explain.stdout) as { settings: { id: string; value: string }[] }).settings.find((s) => s.id === 'fence');
  assert.is(row?.value, 'off: single-tenant CI runner: instances are our own jobs');
  const on = gen(['explain', ...profileArgs(['lxd-small']), '--format', 'json']);
  const onRow = (JSON.parse(on.stdout) as { settings: { id: string; value: string }[] }).settings.find((s) => s.id === 'fence');
  assert.is(onRow?.value, 'on: inet born_tuned_fence on lxdbr0');
});

test('a reason must be one printable line: a terminal escape in it is refused where it stands', () => {
  writeFileSync(join(profilesDir, 'escape.yaml'), 'extends: lxd-small\nfence: {enabled: false, reason: "ok\\e[2J"}\n');
  const r = gen(['--profiles-dir', profilesDir, '--profile', 'escape']);
  assert.is(r.status, 1, r.stderr);
  assert.match(r.stderr, /escape\.yaml:2:\d+: error INVALID_VALUE: fence\.reason must be one line of up to 200 printable characters/);
});

// --- the fence in network namespaces ------------------------------------------------------------

const NS = { host: `btf-host-${process.pid}`, inst: `btf-inst-${process.pid}`, cloud: `btf-cloud-${process.pid}` };
const servers: ChildProcess[] = [];

/** Answers TCP on 22, 53 and 80 and UDP on 53 (echo), on every address of its namespace. */
const SERVE = `
import net from 'node:net'; import dgram from 'node:dgram';
for (const port of [22, 53, 80]) for (const host of ['0.0.0.0', '::']) net.createServer((s) => s.end('hi\\n')).listen({ port, host, ipv6Only: host === '::' });
for (const type of ['udp4', 'udp6']) { const u = dgram.createSocket(type === 'udp6' ? { type, ipv6Only: true } : { type }); u.on('message', (m, r) => u.send(m, r.port, r.address)); u.bind(53); }
setTimeout(() => console.log('ready'), 200);
`;
/** Runs every probe of argv[2] (JSON [[proto, host, port], ...]) at once; prints which got an answer. */
const PROBE = `
import net from 'node:net'; import dgram from 'node:dgram';
const probes = JSON.parse(process.argv[2]);
const one = ([proto, host, port]) => new Promise((done) => {
  const timer = setTimeout(() => done(false), 1500);
  const ok = () => { clearTimeout(timer); done(true); };
  if (proto === 'tcp') { const s = net.connect({ host, port }); s.on('data', () => { ok(); s.destroy(); }); s.on('error', () => {}); }
  else { const u = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4'); u.on('message', () => { ok(); u.close(); }); u.send('x', port, host); }
});
const got = await Promise.all(probes.map(one));
console.log(JSON.stringify(Object.fromEntries(probes.map((p, i) => [p.join(' '), got[i]]))));
process.exit(0);
`;
writeFileSync(join(scratch, 'serve.mjs'), SERVE);
writeFileSync(join(scratch, 'probe.mjs'), PROBE);

function ip(...args: string[]): void {
  const r = run('ip', args);
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${r.stderr}`);
}

function inNs(ns: string, cmd: string, ...args: string[]) {
  return run('ip', ['netns', 'exec', ns, cmd, ...args]);
}

async function serve(ns: string): Promise<void> {
  const child = spawn('ip', ['netns', 'exec', ns, process.execPath, join(scratch, 'serve.mjs')], { stdio: ['ignore', 'pipe', 'inherit'] });
  servers.push(child);
  await new Promise<void>((ready, fail) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && ready());
    child.on('exit', (code) => fail(new Error(`the listener in ${ns} exited with ${code}`)));
  });
}

function probe(probes: [string, string, number][]): Record<string, boolean> {
  const r = inNs(NS.inst, process.execPath, join(scratch, 'probe.mjs'), JSON.stringify(probes));
  assert.is(r.status, 0, r.stderr);
  return JSON.parse(r.stdout) as Record<string, boolean>;
}

/**
 * host: the bridge (10.99.0.1/24, fd42:99::1/64) with the instance's veth, and meta0 (a veth end:
 * this kernel has no dummy driver) holding the metadata addresses and an "uplink" 192.0.2.10.
 * inst: eth0 10.99.0.10, fd42:99::10, default routes through the bridge. cloud: behind up0.
 */
function buildNamespaces(bridge: string): void {
  for (const ns of Object.values(NS)) ip('netns', 'add', ns);
  const h = ['-n', NS.host];
  ip(...h, 'link', 'add', 'name', bridge, 'type', 'bridge');
  ip(...h, 'addr', 'add', '10.99.0.1/24', 'dev', bridge);
  ip(...h, 'addr', 'add', 'fd42:99::1/64', 'dev', bridge, 'nodad');
  ip(...h, 'link', 'set', bridge, 'up');
  ip(...h, 'link', 'set', 'lo', 'up');
  ip(...h, 'link', 'add', 'name', 'meta0', 'type', 'veth', 'peer', 'name', 'meta1');
  for (const a of ['169.254.169.254/32', 'fd00:ec2::254/128', '192.0.2.10/24']) ip(...h, 'addr', 'add', a, 'dev', 'meta0', 'nodad');
  ip(...h, 'link', 'set', 'meta0', 'up');
  ip(...h, 'link', 'set', 'meta1', 'up');
  ip(...h, 'link', 'add', 'name', 'vh', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.inst);
  ip(...h, 'link', 'set', 'vh', 'master', bridge, 'up');
  const i = ['-n', NS.inst];
  ip(...i, 'addr', 'add', '10.99.0.10/24', 'dev', 'eth0');
  ip(...i, 'addr', 'add', 'fd42:99::10/64', 'dev', 'eth0', 'nodad');
  ip(...i, 'link', 'set', 'eth0', 'up');
  ip(...i, 'link', 'set', 'lo', 'up');
  ip(...i, 'route', 'add', 'default', 'via', '10.99.0.1');
  ip(...i, '-6', 'route', 'add', 'default', 'via', 'fd42:99::1');
}

/** Moves the metadata addresses from the host into the cloud namespace, routed through up0. */
function metadataBehindTheHost(): void {
  const h = ['-n', NS.host];
  const c = ['-n', NS.cloud];
  ip(...h, 'addr', 'del', '169.254.169.254/32', 'dev', 'meta0');
  ip(...h, 'addr', 'del', 'fd00:ec2::254/128', 'dev', 'meta0');
  ip(...h, 'link', 'add', 'name', 'up0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', NS.cloud);
  ip(...h, 'addr', 'add', '198.51.100.1/24', 'dev', 'up0');
  ip(...h, 'addr', 'add', 'fd99::1/64', 'dev', 'up0', 'nodad');
  ip(...h, 'link', 'set', 'up0', 'up');
  for (const a of ['198.51.100.2/24', 'fd99::2/64', '169.254.169.254/32', 'fd00:ec2::254/128'])
    ip(...c, 'addr', 'add', a, 'dev', 'eth0', 'nodad');
  ip(...c, 'link', 'set', 'eth0', 'up');
  ip(...c, 'link', 'set', 'lo', 'up');
  ip(...c, 'route', 'add', '10.99.0.0/24', 'via', '198.51.100.1');
  ip(...c, '-6', 'route', 'add', 'fd42:99::/64', 'via', 'fd99::1');
  ip(...h, 'route', 'add', '169.254.169.254/32', 'via', '198.51.100.2');
  ip(...h, '-6', 'route', 'add', 'fd00:ec2::254/128', 'via', 'fd99::2');
  for (const key of ['net.ipv4.ip_forward=1', 'net.ipv6.conf.all.forwarding=1']) assert.is(inNs(NS.host, 'sysctl', '-qw', key).status, 0);
}

function teardown(): void {
  for (const s of servers.splice(0)) if (s.pid !== undefined && s.exitCode === null) s.kill('SIGKILL');
  for (const ns of Object.values(NS)) run('ip', ['netns', 'del', ns]);
}

const LOCAL: [string, string, number][] = [
  ['udp', '10.99.0.1', 53],
  ['tcp', '10.99.0.1', 53],
  ['udp', 'fd42:99::1', 53],
  ['tcp', 'fd42:99::1', 53],
  ['tcp', '10.99.0.1', 22],
  ['tcp', 'fd42:99::1', 80],
  ['tcp', '192.0.2.10', 22],
  ['udp', '192.0.2.10', 53],
  ['tcp', '169.254.169.254', 80],
  ['tcp', 'fd00:ec2::254', 80],
];
const ALLOWED = new Set(['udp 10.99.0.1 53', 'tcp 10.99.0.1 53', 'udp fd42:99::1 53', 'tcp fd42:99::1 53']);
const METADATA: [string, string, number][] = [
  ['tcp', '169.254.169.254', 80],
  ['tcp', 'fd00:ec2::254', 80],
];

for (const [name, args, bridge] of CASES.filter((c) => c[0] !== 'incus-dense + 10gbe')) {
  test(`in network namespaces, the fence of ${name} lets the bridge's DNS through and nothing else of the host, nor the metadata service routed`, async () => {
    teardown();
    const rules = join(scratch, `ns-${bridge}.nft`);
    writeFileSync(rules, rulesOf(args));
    try {
      buildNamespaces(bridge);
      await serve(NS.host);
      const open = probe(LOCAL);
      assert.equal(
        open,
        Object.fromEntries(LOCAL.map((p) => [p.join(' '), true])),
        'without the table, the instance reaches every listener',
      );
      const listTable = () =>
        JSON.parse(inNs(NS.host, 'nft', '-j', 'list', 'table', 'inet', 'born_tuned_fence').stdout) as { nftables: object[] };
      const ruleCount = () => listTable().nftables.filter((o) => 'rule' in o).length;
      const load = inNs(NS.host, 'nft', '-f', rules);
      assert.is(load.status, 0, load.stderr);
      const once = ruleCount();
      // Loaded again (a restart of the unit): it replaces itself, never doubles a rule.
      assert.is(inNs(NS.host, 'nft', '-f', rules).status, 0);
      assert.is(ruleCount(), once, 'rules in the table after a second load');
      assert.is(fenceTableProblem(listTable(), bridge), undefined);
      for (const ns of [NS.inst, NS.host]) assert.is(inNs(ns, 'ip', 'neigh', 'flush', 'all').status, 0);
      const fenced = probe(LOCAL);
      assert.equal(fenced, Object.fromEntries(LOCAL.map((p) => [p.join(' '), ALLOWED.has(p.join(' '))])));

      metadataBehindTheHost();
      await serve(NS.cloud);
      assert.equal(probe(METADATA), { 'tcp 169.254.169.254 80': false, 'tcp fd00:ec2::254 80': false }, 'routed, with the table');
      assert.is(inNs(NS.host, 'nft', 'delete', 'table', 'inet', 'born_tuned_fence').status, 0);
      assert.equal(probe(METADATA), { 'tcp 169.254.169.254 80': true, 'tcp fd00:ec2::254 80': true }, 'routed, without the table');
    } finally {
      teardown();
    }
  });
}

test('verify reads the live table through the real nft: PASS when loaded on the bridge, FAIL on another bridge or not loaded', async () => {
  teardown();
  const nft = join(scratch, 'nft-in-ns');
  writeFileSync(nft, `#!/bin/sh\nexec ip netns exec ${NS.host} nft "$@"\n`, { mode: 0o755 });
  const generated = generate({ profiles: ['lxd-small'] }, { packer: false, secrets: 'resolve' });
  const root = goodHost(scratch, ['lxd-small']);
  const fenceRows = async () =>
    (await verifyHost(generated, { root, fence: liveFenceQuery({ nft }) })).filter((r) => r.check.startsWith('fence '));
  try {
    ip('netns', 'add', NS.host);
    const notLoaded = await fenceRows();
    assert.equal(
      notLoaded.map((r) => [r.check, r.status, r.actual]),
      [
        ['fence unit born-tuned-fence.service enabled', 'PASS', 'enabled'],
        ['fence table inet born_tuned_fence', 'FAIL', 'not loaded'],
      ],
    );
    assert.match(notLoaded[1]!.note!, /systemctl restart born-tuned-fence\.service/);
    const rules = join(scratch, 'verify.nft');
    writeFileSync(rules, rulesOf(profileArgs(['lxd-small'])));
    assert.is(inNs(NS.host, 'nft', '-f', rules).status, 0);
    assert.equal(
      (await fenceRows()).map((r) => r.status),
      ['PASS', 'PASS'],
    );
    writeFileSync(rules, rulesOf(profileArgs(['incus-dense'])));
    assert.is(inNs(NS.host, 'nft', '-f', rules).status, 0);
    const other = (await fenceRows())[1]!;
    assert.equal([other.status, other.actual], ['FAIL', 'not as generated']);
    assert.match(other.note!, /input sends nothing from lxdbr0 to from_instances/);
  } finally {
    teardown();
  }
});

test('verify: nft missing is a FAIL naming the package; --root has no kernel to ask (ABSENT); an unenabled unit FAILs', async () => {
  const generated = generate({ profiles: ['lxd-small'] }, { packer: false, secrets: 'resolve' });
  const root = goodHost(scratch, ['lxd-small']);
  const missing = (await verifyHost(generated, { root, fence: liveFenceQuery({ nft: join(scratch, 'no-such-nft') }) })).find(
    (r) => r.check === 'fence table inet born_tuned_fence',
  )!;
  assert.is(missing.status, 'FAIL');
  assert.match(missing.note!, /could not be run/);
  const noNft = (
    await verifyHost(generated, {
      root,
      fence: async () => ({ kind: 'broken', reason: 'cannot run: nft is not installed (apt-get install nftables)' }),
    })
  ).find((r) => r.check === 'fence table inet born_tuned_fence')!;
  assert.match(noNft.note!, /apt-get install nftables/);
  const offline = (await verifyHost(generated, { root })).filter((r) => r.check.startsWith('fence '));
  assert.equal(
    offline.map((r) => r.status),
    ['PASS', 'ABSENT'],
  );
  rmSync(join(root, 'etc/systemd/system/sysinit.target.wants/born-tuned-fence.service'));
  const unenabled = (await verifyHost(generated, { root })).find((r) => r.check.startsWith('fence unit'))!;
  assert.equal([unenabled.status, unenabled.actual], ['FAIL', 'not enabled']);
  assert.match(unenabled.note!, /systemctl enable --now born-tuned-fence\.service/);
});

test('fenceTableProblem: an emptied table or a missing chain is named', () => {
  assert.is(fenceTableProblem({ nftables: [] }, 'lxdbr0'), 'no base chain input hooked at input');
  assert.is(fenceTableProblem(null, 'lxdbr0'), 'nft printed no "nftables" list');
  const chains = ['input', 'forward'].map((n) => ({ chain: { name: n, hook: n } }));
  assert.is(fenceTableProblem({ nftables: chains }, 'lxdbr0'), 'input sends nothing from lxdbr0 to from_instances');
});

test.after(() => {
  teardown();
  rmSync(scratch, { recursive: true, force: true });
});

test.run();
