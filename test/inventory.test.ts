import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse, stringify } from 'yaml';
import { generateInventory } from '../src/inventory/generate.ts';
import { BIN_GEN, gen, readManifest, ROOT, run, withoutSizeWarning } from './helpers.ts';

/** Inventories, operators' cloud-config (merged or MIME), encodings, checked by the real tools. */
const FIX = join(ROOT, 'test', 'fixtures', 'inventory');
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-inv-'));
const netplanCheck = join(ROOT, 'test', 'real', 'check-netplan.sh');

function schemaCheck(file: string): void {
  const r = run('cloud-init', ['schema', '--config-file', file]);
  assert.is(r.status, 0, `cloud-init schema ${file}:\n${r.stdout}${r.stderr}`);
}

test('an inventory gives each host a NoCloud seed and its preseed; the real tools accept them', () => {
  const out = join(scratch, 'inv');
  const r = gen(['--inventory', join(FIX, 'hosts.yaml'), '--out', out]);
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `wrote 3 hosts (12 files) to ${out}\n`);
  assert.equal(readdirSync(out).sort(), ['edge01', 'manifest.json', 'node01', 'node02']);
  assert.equal(parse(readFileSync(join(out, 'node01/seed/meta-data'), 'utf8')), {
    'instance-id': 'iid-node01',
    'local-hostname': 'node01.example.net',
  });
  assert.equal(parse(readFileSync(join(out, 'edge01/seed/meta-data'), 'utf8')), {
    'instance-id': 'iid-edge01',
    'local-hostname': 'edge01',
  });
  for (const host of ['node01', 'node02', 'edge01']) {
    schemaCheck(join(out, host, 'seed/user-data'));
    const ud = parse(readFileSync(join(out, host, 'seed/user-data'), 'utf8')) as { users: { name: string }[]; runcmd: unknown[][] };
    assert.is(ud.users[0]!.name, 'ops', 'the include is folded in');
    assert.equal(ud.runcmd.at(-2), ['echo', 'ops-was-here'], 'include lists append after our steps');
    assert.equal(ud.runcmd.at(-1), ['/usr/local/sbin/born-tuned-step', '--check'], 'and before the final check');
  }
  for (const host of ['node01', 'node02']) {
    const copy = join(scratch, `${host}-network-config.yaml`);
    cpSync(join(out, host, 'seed/network-config'), copy);
    const check = run('bash', [netplanCheck, copy]);
    assert.is(check.status, 0, check.stdout + check.stderr);
  }
  assert.ok(readFileSync(join(out, 'node01/preseed-incus.yaml'), 'utf8').includes('incusbr0'));
  assert.ok(readFileSync(join(out, 'edge01/preseed-lxd.yaml'), 'utf8').includes('lxdbr0'));
  assert.not.ok(readdirSync(join(out, 'edge01/seed')).includes('network-config'), 'no static addressing, no network-config');
});

test('hosts sharing a stack share the work: each stack and each user-data is built once', async () => {
  const texts = async (): Promise<[string[], Awaited<ReturnType<typeof generateInventory>>['stats']]> => {
    const out: string[] = [];
    const { stats } = await generateInventory(join(FIX, 'hosts.yaml'), { mime: false, encoding: 'plain' }, (a) =>
      out.push(`${a.path}\n${a.text}`),
    );
    return [out, stats];
  };
  const [first, stats] = await texts();
  assert.equal(stats, { hosts: 3, of: 3, stacks: 2, userData: 2, includes: 1, files: 12 });
  assert.equal((await texts())[0], first, 'deterministic');
});

test('--include merges as data: a conflicting value is an error naming both files', () => {
  // On Debian 12, where gen adds the backports source the include also sets.
  const r = gen([
    '--profile',
    'incus-dense',
    '--profiles-dir',
    'test/e2e/profiles',
    '--profile',
    'debian-12',
    '--include',
    join(FIX, 'conflict.yaml'),
  ]);
  assert.is(r.status, 1);
  assert.match(
    r.stderr,
    /conflict\.yaml:6:15: error INCONSISTENT_VALUES: apt\.sources\."born-tuned-backports\.list"\.source is "deb http:\/\/mirror\.example\/debian bookworm-backports main" here but "deb \$MIRROR bookworm-backports main" in the generated user-data \(profile incus-dense \+ debian-12\): set it in one place/,
  );
  const w = gen(['--profile', 'incus-dense', '--include', join(FIX, 'overwrite.yaml')]);
  assert.is(w.status, 1);
  assert.match(
    w.stderr,
    /overwrite\.yaml:3:11: error INCONSISTENT_VALUES: write_files path \/etc\/sysctl\.d\/60-born-tuned\.conf is also written by the first-boot sysctl step of the generated user-data/,
  );
});

test('--mime: a fixed-boundary multipart document; every cloud-config part passes the real schema', () => {
  const a = gen(['--profile', 'lxd-small', '--include', join(FIX, 'ops.yaml'), '--mime']);
  const b = gen(['--profile', 'lxd-small', '--include', join(FIX, 'ops.yaml'), '--mime']);
  assert.is(a.status, 0, a.stderr);
  assert.is(a.stdout, b.stdout);
  const file = join(scratch, 'mime.txt');
  writeFileSync(file, a.stdout);
  const split = run('python3', [
    '-c',
    `
import email, sys, json
msg = email.message_from_binary_file(open(sys.argv[1], 'rb'))
parts = []
for p in msg.walk():
    if p.get_content_maintype() == 'multipart': continue
    parts.append({'type': p.get_content_type(), 'merge': p['X-Merge-Type'], 'name': p.get_filename(), 'body': p.get_payload(decode=True).decode()})
print(json.dumps(parts))`,
    file,
  ]);
  assert.is(split.status, 0, split.stderr);
  const parts = JSON.parse(split.stdout) as { type: string; merge: string; name: string; body: string }[];
  assert.equal(
    parts.map((p) => [p.type, p.name]),
    [
      ['text/cloud-config', 'born-tuned.cfg'],
      ['text/cloud-config', 'ops.yaml'],
      ['text/cloud-config', 'born-tuned-check.cfg'],
    ],
  );
  assert.is(parts[1]!.body, readFileSync(join(FIX, 'ops.yaml'), 'utf8'));
  assert.is(
    parts[2]!.body
      .split('\n')
      .filter((l) => !l.startsWith('#'))
      .join('\n'),
    'runcmd:\n  - [/usr/local/sbin/born-tuned-step, --check]\n',
    'the final check is a part of its own, after the includes',
  );
  parts.forEach((p, i) => {
    assert.is(p.merge, 'list(append)+dict(no_replace,recurse_list)+str()');
    const partFile = join(scratch, `part${i}.yaml`);
    writeFileSync(partFile, p.body);
    schemaCheck(partFile);
  });
});

test('--encoding gzip, base64 and gzip+base64 decode back to exactly the plain bytes', () => {
  const plain = gen(['--profile', 'incus-dense']).stdout;
  for (const encoding of ['gzip', 'base64', 'gzip+base64']) {
    const r = run(BIN_GEN, ['--profile', 'incus-dense', '--encoding', encoding], { encoding: 'buffer' } as never);
    const bytes = r.stdout as unknown as Buffer;
    const decoded =
      encoding === 'gzip'
        ? gunzipSync(bytes)
        : encoding === 'base64'
          ? Buffer.from(bytes.toString(), 'base64')
          : gunzipSync(Buffer.from(bytes.toString(), 'base64'));
    assert.is(decoded.toString('utf8'), plain, encoding);
  }
});

test('cluster members: the bootstrap member clusters the stack preseed, joining members carry only their join', () => {
  const out = join(scratch, 'cluster');
  const env = { ...process.env, NODE2_JOIN_TOKEN: 'canary-join-two', NODE3_JOIN_TOKEN: 'canary-join-three' };
  const r = run(BIN_GEN, ['--inventory', join(FIX, 'cluster.yaml'), '--out', out], { env });
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout + r.stderr, /canary/);
  const preseed = (h: string) => parse(readFileSync(join(out, h, 'preseed-incus.yaml'), 'utf8')) as Record<string, any>;
  const boot = preseed('node1');
  assert.equal(boot.cluster, { server_name: 'node1', enabled: true });
  assert.is(boot.config['core.https_address'], '192.0.2.11:8443');
  assert.ok(boot.networks && boot.storage_pools && boot.profiles, 'the bootstrap member creates what the stack defines');
  // incus-dense's pool is on a device: each joining member names its own (member_config).
  assert.equal(preseed('node2'), {
    config: { 'core.https_address': '192.0.2.12:8443' },
    cluster: {
      server_name: 'node2',
      enabled: true,
      server_address: '192.0.2.12:8443',
      cluster_token: 'canary-join-two',
      member_config: [{ entity: 'storage-pool', name: 'default', key: 'source', value: '/dev/disk/by-id/CHANGE-ME-to-the-pool-disk' }],
    },
  });
  for (const host of ['node1', 'node2', 'node3']) {
    for (const f of ['seed/user-data', 'seed/meta-data', 'seed/network-config', 'preseed-incus.yaml']) {
      const text = readFileSync(join(out, host, f), 'utf8');
      assert.is(
        text.includes('canary-join-two'),
        host === 'node2' && (f === 'seed/user-data' || f === 'preseed-incus.yaml'),
        `${host}/${f}`,
      );
    }
    schemaCheck(join(out, host, 'seed/user-data'));
  }
  const manifest = readManifest(out);
  assert.ok(manifest.filter((f) => f.path.startsWith('node2/')).every((f) => !/user-data|preseed/.test(f.path) || f.mode === '0600'));
  // A join token is a secret like a trust password: no published digest of the files that hold it.
  const carriers = manifest.filter((f) => f.sha256 === undefined).map((f) => f.path);
  assert.equal(carriers.sort(), [
    'node2/preseed-incus.yaml',
    'node2/seed/user-data',
    'node3/preseed-incus.yaml',
    'node3/seed/user-data',
    'secret-digests.json',
  ]);
});

test('a join token in user-data is warned about at its key, once per host; --strict refuses it', () => {
  const env = { ...process.env, NODE2_JOIN_TOKEN: 'canary-join-two', NODE3_JOIN_TOKEN: 'canary-join-three' };
  const r = run(BIN_GEN, ['--inventory', join(FIX, 'cluster.yaml'), '--out', join(scratch, 'warned'), '--format', 'json'], { env });
  assert.is(r.status, 0, r.stderr);
  const warnings = (JSON.parse(r.stderr) as { diagnostics: { code: string; line: number; col: number; message: string }[] }).diagnostics;
  assert.equal(
    warnings.map((w) => [w.code, w.line, w.col]),
    [
      ['USER_DATA_SIZE', undefined, undefined],
      ['SECRET_IN_USER_DATA', 13, 27],
      ['SECRET_IN_USER_DATA', 17, 27],
    ],
  );
  assert.match(
    warnings[1]!.message,
    /join token of node2 rides in its user-data: a metadata service serves user-data to anything that can reach it/,
  );
  assert.match(warnings[1]!.message, /cluster\.token_from/);
  assert.not.match(r.stderr, /canary/);
  const strict = run(BIN_GEN, ['--inventory', join(FIX, 'cluster.yaml'), '--out', join(scratch, 'strict'), '--strict'], { env });
  assert.is(strict.status, 1);
  assert.match(strict.stderr, /error SECRET_IN_USER_DATA/);
});

test('--host renders only the hosts named: the bootstrap member needs no join token, which does not exist yet', () => {
  // No NODE2_JOIN_TOKEN nor NODE3_JOIN_TOKEN: only node1 is rendered, so neither is read.
  const env = { ...process.env };
  delete env.NODE2_JOIN_TOKEN;
  delete env.NODE3_JOIN_TOKEN;
  const out = join(scratch, 'bootstrap-only');
  const r = run(BIN_GEN, ['--inventory', join(FIX, 'cluster.yaml'), '--host', 'node1', '--out', out], { env });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `wrote 1 of 3 hosts (5 files) to ${out}\n`);
  assert.is(withoutSizeWarning(r.stderr), '', 'no other warning: node1 carries no secret');
  assert.equal(readdirSync(out).sort(), ['manifest.json', 'node1']);
  assert.equal(
    readManifest(out)
      .map((f) => f.path)
      .sort(),
    ['node1/preseed-incus.yaml', 'node1/seed/meta-data', 'node1/seed/network-config', 'node1/seed/user-data'],
  );
  // The same files as in the whole fleet's tree.
  const whole = join(scratch, 'cluster');
  for (const f of ['preseed-incus.yaml', 'seed/user-data', 'seed/meta-data'])
    assert.is(readFileSync(join(out, 'node1', f), 'utf8'), readFileSync(join(whole, 'node1', f), 'utf8'), f);
  // Asking for a joining member still needs its token, and names it.
  const join2 = run(
    BIN_GEN,
    ['--inventory', join(FIX, 'cluster.yaml'), '--host', 'node1', '--host', 'node2', '--out', join(scratch, 'two')],
    { env },
  );
  assert.is(join2.status, 2);
  assert.match(join2.stderr, /hosts\.node2\.cluster\.token reads the environment variable NODE2_JOIN_TOKEN, which is not set/);
  // The whole inventory is still checked: a problem in a host not rendered is still an error.
  const bad = join(scratch, 'bad-other.yaml');
  writeFileSync(bad, readFileSync(join(FIX, 'cluster.yaml'), 'utf8').replace('52:54:00:00:01:03', '52:54:00:00:01:02'));
  const dup = run(BIN_GEN, ['--inventory', bad, '--host', 'node1', '--out', join(scratch, 'dup')], { env });
  assert.is(dup.status, 1);
  assert.match(dup.stderr, /mac 52:54:00:00:01:02 is already used by host node2/);
});

test('--host: an unknown name is a usage error with a did-you-mean and the hosts; --host needs --inventory', () => {
  const r = gen(['--inventory', join(FIX, 'cluster.yaml'), '--host', 'node4', '--out', join(scratch, 'unknown')]);
  assert.is(r.status, 2);
  assert.match(r.stderr, /--host node4: .*cluster\.yaml has no host node4 \(did you mean "node1"\?\); its hosts: node1, node2, node3\n$/);
  const far = gen(['--inventory', join(FIX, 'cluster.yaml'), '--host', 'gateway', '--out', join(scratch, 'unknown')]);
  assert.is(far.status, 2);
  assert.not.match(far.stderr, /did you mean/);
  const alone = gen(['--profile', 'lxd-small', '--host', 'node1']);
  assert.is(alone.status, 2);
  assert.match(alone.stderr, /--host picks hosts of an inventory: add --inventory FILE/);
});

test('token_from: the join token is fetched at first boot, so it is in neither the user-data nor the preseed gen writes', () => {
  const dir = mkdtempSync(join(scratch, 'token-from-'));
  const hosts = join(dir, 'hosts.yaml');
  writeFileSync(
    hosts,
    readFileSync(join(FIX, 'cluster.yaml'), 'utf8')
      .replace('token: {env: NODE2_JOIN_TOKEN}', 'token_from: {file: /run/born-tuned-join-token, wait: 900}')
      .replace('token: {env: NODE3_JOIN_TOKEN}', `token_from: {command: "ssh -o BatchMode=yes node1 'incus cluster add node3'"}`),
  );
  const out = join(dir, 'out');
  const r = gen(['--inventory', hosts, '--out', out]);
  assert.is(r.status, 0, r.stderr);
  assert.is(withoutSizeWarning(r.stderr), '', 'no secret rides in user-data: no other warning');
  // incus-dense's pool is on a device: the preseed step needs its device check.
  const step = (host: string) =>
    (parse(readFileSync(join(out, host, 'seed/user-data'), 'utf8')) as { runcmd: string[][] }).runcmd.find((c) => c[3] === 'preseed');
  assert.equal(step('node2'), [
    '/usr/local/sbin/born-tuned-step',
    '--needs',
    'storage-device-default',
    'preseed',
    '/usr/local/sbin/born-tuned-preseed',
    '/etc/born-tuned/preseed.yaml',
    '--token-file',
    '/run/born-tuned-join-token',
    '--wait',
    '900',
    '--',
    'incus',
    'admin',
    'init',
    '--preseed',
  ]);
  assert.equal(step('node3')!.slice(6, 8), ['--token-command', "ssh -o BatchMode=yes node1 'incus cluster add node3'"]);
  assert.equal(step('node1')!.slice(4), [
    '/usr/local/sbin/born-tuned-preseed',
    '/etc/born-tuned/preseed.yaml',
    '--',
    'incus',
    'admin',
    'init',
    '--preseed',
  ]);
  assert.equal(parse(readFileSync(join(out, 'node2', 'preseed-incus.yaml'), 'utf8')), {
    config: { 'core.https_address': '192.0.2.12:8443' },
    cluster: {
      server_name: 'node2',
      enabled: true,
      server_address: '192.0.2.12:8443',
      member_config: [{ entity: 'storage-pool', name: 'default', key: 'source', value: '/dev/disk/by-id/CHANGE-ME-to-the-pool-disk' }],
    },
  });
  for (const host of ['node2', 'node3']) schemaCheck(join(out, host, 'seed/user-data'));
  // Nothing secret in the tree: every file has its published digest.
  assert.ok(readManifest(out).every((f) => f.sha256 !== undefined));
});

test('the real daemons bootstrap a cluster from a member preseed (LXD 5.0.2 and Incus 6.0.4)', () => {
  const dir = mkdtempSync(join(scratch, 'boot-'));
  for (const [manager, profile] of [
    ['incus', 'incus-dense'],
    ['lxd', 'lxd-small'],
  ] as const) {
    writeFileSync(
      join(dir, 'hosts.yaml'),
      `defaults:\n  profiles: [${profile}]\nhosts:\n  node1:\n    cluster: {role: bootstrap, address: 127.0.0.1, port: 18443}\n`,
    );
    const out = join(dir, `out-${manager}`);
    assert.is(gen(['--inventory', join(dir, 'hosts.yaml'), '--out', out]).status, 0);
    // incus-dense's btrfs pool needs a disk this machine lacks: applied as a dir pool (the VM boot
    // creates it on a real disk); the cluster keys, the point here, as rendered.
    const file = join(out, 'node1', `preseed-${manager}.yaml`);
    const member = parse(readFileSync(file, 'utf8')) as { storage_pools: { name: string }[] };
    member.storage_pools = member.storage_pools.map((p) => ({ name: p.name, driver: 'dir' }));
    writeFileSync(file, stringify(member));
    const res = run('bash', [join(ROOT, 'test', 'real', 'preseed-apply.sh'), manager, file]);
    assert.is(res.status, 0, `${manager}: ${res.stderr}`);
    const state = JSON.parse(res.stdout) as { config: Record<string, string> };
    assert.is(state.config['core.https_address'], '127.0.0.1:18443', manager);
  }
});

test.run();
