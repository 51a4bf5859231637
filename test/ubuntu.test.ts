/**
 * Ubuntu targets are not boot-proven (no Ubuntu guest boots in npm test): what is checked of them
 * is structural, and gen says so. For each Ubuntu fixture: the real cloud-init schema accepts its
 * user-data without a deprecation, the install step names exactly the packages or the snap
 * channel the release has (Ubuntu's archive is out of reach here, so the names are those of the
 * targets table, src/facts/targets.ts, which records them), snapd is not installed where Ubuntu
 * has it, the whole tree renders (gen checks the preseed's keys against the manager's version
 * before it writes), and `list` and `explain` mark the release "(not boot-proven)".
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { TARGETS } from '../src/facts/targets.ts';
import { KNOWN_VERSIONS } from '../src/facts/managers.ts';
import { preseedProblems } from '../src/check/preseed-keys.ts';
import { gen, ROOT, run } from './helpers.ts';

const FIXTURES = join(ROOT, 'test', 'fixtures', 'valid');

/** Each Ubuntu fixture, the release it targets and how it installs its manager. */
const CASES = [
  { file: 'ubuntu-2404-incus.yaml', release: 'ubuntu/24.04', install: 'deb' },
  { file: 'ubuntu-2204-lxd-snap.yaml', release: 'ubuntu/22.04', install: 'snap' },
] as const;

/** The arguments of each first-boot step of a user-data, by step name. */
function steps(userData: string): Map<string, string[]> {
  const runcmd = (parse(userData) as { runcmd: string[][] }).runcmd;
  return new Map(runcmd.filter((c) => c[0] === '/usr/local/sbin/born-tuned-step').map((c) => [c[1]!, c.slice(2)]));
}

const tmp = mkdtempSync(join(tmpdir(), 'born-tuned-ubuntu-'));
test.after(() => rmSync(tmp, { recursive: true, force: true }));

for (const c of CASES) {
  test(`${c.file}: cloud-init's schema, the release's packages, the whole tree`, () => {
    const profile = join(FIXTURES, c.file);
    const r = gen(['--profile', profile]);
    assert.is(r.status, 0, r.stderr);
    const file = join(tmp, `${c.file}.user-data`);
    writeFileSync(file, r.stdout);
    const schema = run('cloud-init', ['schema', '--config-file', file]);
    assert.is(schema.status, 0, schema.stdout + schema.stderr);
    assert.not.match(schema.stdout + schema.stderr, /deprecat/i);

    const target = TARGETS[c.release]!;
    const manager = c.file.includes('incus') ? 'incus' : 'lxd';
    const install = steps(r.stdout).get('install-manager');
    if (c.install === 'deb') {
      const pkg = target.debPackages[manager];
      assert.ok('packages' in pkg, `${c.release} has a ${manager} package`);
      assert.equal(install, ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', ...pkg.packages]);
    } else {
      // The install-or-refresh script (test/snap-refresh.test.ts runs it), given the channel.
      assert.equal(install?.slice(0, 2), ['sh', '-c']);
      assert.match(install?.[2] ?? '', /snap install lxd --channel="\$want"/);
      // A snap channel is TRACK/RISK; the track is an LXD release gen knows.
      const channel = /^(\d+\.\d+)\/(stable|candidate|beta|edge)$/.exec(install?.at(-1) ?? '');
      assert.ok(channel, `snap channel: ${install?.join(' ')}`);
      assert.ok(KNOWN_VERSIONS.lxd.includes(channel![1]!), channel![1]);
    }
    // Ubuntu has snapd; Debian needs it installed first (the contrast is the second test).
    assert.not.ok(steps(r.stdout).has('install-snapd'), 'snapd is part of Ubuntu');

    const out = join(tmp, c.file);
    const tree = gen(['--profile', profile, '--out', out]);
    assert.is(tree.status, 0, tree.stderr);
    // The preseed's keys are the ones the manager's version accepts (no daemon of Ubuntu's runs here).
    const preseed = parse(readFileSync(join(out, 'preseed', `${manager}.yaml`), 'utf8')) as Record<string, unknown>;
    const version = JSON.parse(gen(['explain', '--profile', profile, 'manager', '--format', 'json']).stdout).settings[0].value.split(
      ' ',
    )[1];
    assert.ok(KNOWN_VERSIONS[manager].includes(version), `${manager} ${version}`);
    assert.equal(preseedProblems(preseed, manager, version), []);
  });

  test(`${c.file}: list and explain say "not boot-proven"`, () => {
    const label = `${TARGETS[c.release]!.label} (not boot-proven)`;
    const explain = gen(['explain', '--profile', join(FIXTURES, c.file), 'target']);
    assert.is(explain.status, 0, explain.stderr);
    assert.match(explain.stdout, new RegExp(`^target = ${label.replace(/[().]/g, '\\$&')}$`, 'm'));
    const list = gen(['list', '--profiles-dir', FIXTURES, '--format', 'json']);
    const row = (JSON.parse(list.stdout) as { profiles: { name: string; target: string }[] }).profiles.find(
      (p) => p.name === c.file.replace(/\.yaml$/, ''),
    );
    assert.is(row?.target, label);
  });
}

test('Debian 12 and 13 are boot-proven and need snapd for the LXD snap', () => {
  const list = gen(['list']);
  assert.match(list.stdout, /^lxd-small +host +Debian 13 +LXD/m);
  const explain = gen(['explain', '-p', 'lxd-small', '--profiles-dir', 'test/e2e/profiles', '-p', 'debian-12', 'target']);
  assert.match(explain.stdout, /^target = Debian 12$/m);
  const profile = join(tmp, 'debian-snap.yaml');
  writeFileSync(profile, 'extends: lxd-small\nmanager:\n  name: lxd\n  install: snap\n');
  const r = gen(['--profile', profile]);
  assert.is(r.status, 0, r.stderr);
  assert.equal(steps(r.stdout).get('install-snapd'), ['env', 'DEBIAN_FRONTEND=noninteractive', 'apt-get', 'install', '-y', 'snapd']);
});

test.run();
