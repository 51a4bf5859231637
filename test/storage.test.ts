import { chmodSync, mkdirSync, mkdtempSync, readFileSync, rmSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { gen, profileArgs, run } from './helpers.ts';

/**
 * Pools on real devices: the first-boot scripts run for real (dash, shellcheck) against loop
 * devices with real signatures (mkfs.ext4, a GPT from sfdisk), the package step against this
 * machine's dpkg with apt-get stubbed, and what gen renders for btrfs, lvm and zfs pools.
 */
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-storage-'));
const profiles = join(dir, 'profiles');
mkdirSync(profiles);
const HOST = [
  'manager: {name: incus, install: deb}',
  'target: {distro: debian, release: "13"}',
  'capacity: {instances: 100}',
  'dmesg_restrict: true',
].join('\n');
/** Writes a profile NAME holding the host keys and `storage`, and returns gen's --profile flags. */
function profile(name: string, storage: string): string[] {
  writeFileSync(join(profiles, `${name}.yaml`), `${HOST}\n${storage}\n`);
  return ['--profiles-dir', profiles, '--profile', name];
}
const BTRFS = profile('btrfs', 'storage_pools:\n  default: {driver: btrfs, source: /dev/disk/by-id/virtio-bt-pool}');
const LVM = profile('lvm', 'storage_pools:\n  default: {driver: lvm, source: /dev/disk/by-id/virtio-bt-pool, wipe: true}');
const ZFS = profile('zfs', 'storage_pools:\n  tank: {driver: zfs, source: /dev/disk/by-id/nvme-x}\nzfs: {arc_max: 8GiB}');

function script(kind: string): string {
  const path = join(dir, kind);
  writeFileSync(path, gen([...BTRFS, '--artifact', kind]).stdout, { mode: 0o755 });
  return path;
}
const device = script('storage-device');
const packages = script('storage-packages');
const step = script('first-boot-step');

/** A fake manager client: `storage show POOL` answers for the pools in $HAS_POOLS only. */
const client = join(dir, 'fake-incus');
writeFileSync(client, '#!/bin/sh\n[ "$1 $2" = "storage show" ] && case " ${HAS_POOLS:-} " in *" $3 "*) exit 0 ;; esac\nexit 1\n', {
  mode: 0o755,
});

/** A loop device over a fresh 64 MiB file, detached by the callback's end. */
function withLoop(fn: (dev: string) => void): void {
  const file = join(dir, `disk-${Math.random().toString(36).slice(2)}.img`);
  writeFileSync(file, '');
  truncateSync(file, 64 * 1024 * 1024);
  const l = run('losetup', ['-f', '--show', file]);
  assert.is(l.status, 0, `losetup: ${l.stderr} (this suite needs root and loop devices)`);
  const dev = l.stdout.trim();
  try {
    fn(dev);
  } finally {
    run('losetup', ['-d', dev]);
    rmSync(file);
  }
}
const probe = (dev: string) => run('blkid', ['-p', '-o', 'value', '-s', 'TYPE', dev]).stdout.trim();
const check = (dev: string, wipe: 'yes' | 'no', env: NodeJS.ProcessEnv = {}) =>
  run('dash', [device, client, 'default', dev, wipe], { env: { ...process.env, ...env } });

test('shellcheck and dash -n accept the storage scripts', () => {
  for (const s of [device, packages]) {
    const sc = run('shellcheck', ['-s', 'sh', s]);
    assert.is(sc.status, 0, sc.stdout);
    assert.is(run('dash', ['-n', s]).status, 0);
  }
});

test('a blank device passes untouched', () => {
  withLoop((dev) => {
    const r = check(dev, 'no');
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /is blank: the preseed creates the pool on it/);
  });
});

test('a device holding a file system is refused, naming the device and the key to change', () => {
  withLoop((dev) => {
    assert.is(run('mkfs.ext4', ['-q', dev]).status, 0);
    const r = check(dev, 'no');
    assert.is(r.status, 1);
    assert.match(r.stderr, `${dev} (${dev}) is not blank, it holds ext4`);
    assert.match(r.stderr, 'Set storage_pools.default.wipe: true to erase it, or set storage_pools.default.source to another disk');
    assert.is(probe(dev), 'ext4', 'the refused device is left as it was');
  });
});

test('a device holding a partition table is refused', () => {
  withLoop((dev) => {
    assert.is(run('sfdisk', ['-q', dev], { input: 'label: gpt\n' }).status, 0);
    const r = check(dev, 'no');
    assert.is(r.status, 1);
    assert.match(r.stderr, /holds partition table gpt/);
  });
});

test('wipe: true erases the signatures with wipefs -a', () => {
  withLoop((dev) => {
    assert.is(run('mkfs.ext4', ['-q', dev]).status, 0);
    const r = check(dev, 'yes');
    assert.is(r.status, 0, r.stderr);
    assert.match(r.stdout, /erasing .*which holds ext4 .*\(storage_pools\.default\.wipe is true\)/);
    assert.is(run('wipefs', ['--noheadings', dev]).stdout, '', 'no signature left');
  });
});

test('a pool the manager already has: the device is never touched, even with wipe (a second run)', () => {
  withLoop((dev) => {
    assert.is(run('mkfs.ext4', ['-q', dev]).status, 0);
    for (const wipe of ['no', 'yes'] as const) {
      const r = check(dev, wipe, { HAS_POOLS: 'default' });
      assert.is(r.status, 0, r.stderr);
      assert.match(r.stdout, /storage pool default already exists: .* left as it is/);
      assert.is(probe(dev), 'ext4');
    }
  });
});

test('a missing device and a file that is no block device are refused', () => {
  const missing = check('/dev/disk/by-id/CHANGE-ME-to-the-pool-disk', 'no');
  assert.is(missing.status, 1);
  assert.match(missing.stderr, 'does not exist: set storage_pools.default.source');
  const file = join(dir, 'plain-file');
  writeFileSync(file, 'x');
  const notBlock = check(file, 'yes');
  assert.is(notBlock.status, 1);
  assert.match(notBlock.stderr, 'is not a block device');
});

/** A PATH where apt-get and uname are stubs that log their arguments (dpkg-query is real). */
function stubbedPath(): { env: NodeJS.ProcessEnv; log: string } {
  const bin = mkdtempSync(join(dir, 'bin-'));
  const log = join(bin, 'log');
  writeFileSync(log, '');
  writeFileSync(join(bin, 'apt-get'), `#!/bin/sh\necho "apt-get $*" >>${log}\n`);
  writeFileSync(join(bin, 'uname'), '#!/bin/sh\necho 6.12.0-test-amd64\n');
  for (const f of ['apt-get', 'uname']) chmodSync(join(bin, f), 0o755);
  return { env: { ...process.env, PATH: `${bin}:${process.env.PATH}` }, log };
}

test('the package step installs nothing, and needs no network, when every package is installed', () => {
  const { env, log } = stubbedPath();
  const r = run('dash', [packages, 'dash', 'coreutils'], { env });
  assert.is(r.status, 0, r.stderr);
  assert.match(r.stdout, /every storage package is installed: nothing to do/);
  assert.is(readFileSync(log, 'utf8'), '');
});

test('the package step installs only the missing packages, and the running kernel headers when asked', () => {
  const { env, log } = stubbedPath();
  const r = run('dash', [packages, '--kernel-headers', 'dash', 'born-tuned-no-such-package'], { env });
  assert.is(r.status, 0, r.stderr);
  assert.is(
    readFileSync(log, 'utf8'),
    'apt-get -q update\napt-get -q -y install born-tuned-no-such-package linux-headers-6.12.0-test-amd64\n',
  );
});

test('born-tuned-step --needs: the preseed does not run after a refused device, and runs after a passed one', () => {
  const marker = join(dir, 'preseed-ran');
  const failed = { ...process.env, BORN_TUNED_STATE: join(dir, 'state-failed') };
  run('dash', [step, 'storage-device-default', 'sh', '-c', 'exit 1'], { env: failed });
  assert.is(run('dash', [step, '--needs', 'storage-device-default', 'preseed', 'touch', marker], { env: failed }).status, 0);
  assert.throws(() => readFileSync(marker));
  const c = run('dash', [step, '--check'], { env: failed });
  assert.is(c.status, 1);
  assert.match(c.stderr, 'storage-device-default(exit 1) preseed(not run: storage-device-default failed)');
  const passed = { ...process.env, BORN_TUNED_STATE: join(dir, 'state-passed') };
  run('dash', [step, 'storage-device-default', 'true'], { env: passed });
  run('dash', [step, '--needs', 'storage-device-default', 'preseed', 'touch', marker], { env: passed });
  readFileSync(marker);
});

interface CloudConfig {
  runcmd: string[][];
  apt?: { sources: Record<string, { source: string }> };
  write_files: { path: string; content: string }[];
}
const userData = (args: string[]) => parse(gen(args).stdout) as CloudConfig;
/** Each runcmd item's step name (after born-tuned-step and its --needs STEP pairs). */
const stepNames = (ud: CloudConfig) =>
  ud.runcmd.map((c) => {
    let i = 1;
    while (c[i] === '--needs') i += 2;
    return c[i]!;
  });
const preseedPool = (args: string[]) =>
  (parse(gen([...args, '--artifact', 'preseed']).stdout) as { storage_pools: Record<string, unknown>[] }).storage_pools[0];

test('btrfs: the package step before the manager restarts, the device check before the preseed, which needs it', () => {
  const ud = userData(BTRFS);
  const at = (name: string) => ud.runcmd.findIndex((c) => c.includes(name));
  assert.ok(at('storage-packages') >= 0 && at('storage-packages') < at('restart-manager'));
  assert.ok(at('manager-ready') < at('storage-device-default') && at('storage-device-default') < at('preseed'));
  assert.equal(ud.runcmd[at('storage-packages')]!.slice(2), ['/usr/local/sbin/born-tuned-storage-packages', 'btrfs-progs']);
  assert.equal(ud.runcmd[at('storage-device-default')]!.slice(2), [
    '/usr/local/sbin/born-tuned-storage-device',
    'incus',
    'default',
    '/dev/disk/by-id/virtio-bt-pool',
    'no',
  ]);
  assert.equal(ud.runcmd[at('preseed')]!.slice(1, 4), ['--needs', 'storage-device-default', 'preseed']);
  assert.equal(preseedPool(BTRFS), { name: 'default', driver: 'btrfs', config: { source: '/dev/disk/by-id/virtio-bt-pool' } });
});

test('lvm: a thin pool named in the preseed (each manager its default name), lvm2 and thin-provisioning-tools, wipe passed on', () => {
  assert.equal(preseedPool(LVM), {
    name: 'default',
    driver: 'lvm',
    config: { source: '/dev/disk/by-id/virtio-bt-pool', 'lvm.thinpool_name': 'IncusThinPool', 'lvm.use_thinpool': 'true' },
  });
  const ud = userData(LVM);
  assert.ok(ud.runcmd.some((c) => c.join(' ').endsWith('born-tuned-storage-packages lvm2 thin-provisioning-tools')));
  assert.ok(ud.runcmd.some((c) => c.join(' ').endsWith('/dev/disk/by-id/virtio-bt-pool yes')));
  assert.equal(
    stepNames(ud).filter((n) => n.startsWith('storage') || n === 'preseed'),
    ['storage-packages', 'storage-device-default', 'preseed'],
  );
  writeFileSync(
    join(profiles, 'lxd-lvm.yaml'),
    `${HOST.replace('incus', 'lxd')}\nstorage_pools:\n  default: {driver: lvm, source: /dev/sdb}\n`,
  );
  const lxd = ['--profiles-dir', profiles, '--profile', 'lxd-lvm'];
  assert.is((preseedPool(lxd) as { config: Record<string, string> }).config['lvm.thinpool_name'], 'LXDThinPool');
});

test('zfs on Debian: contrib, zfs-dkms with the running kernel headers, and zfs_arc_max in modprobe.d', () => {
  const ud = userData(ZFS);
  assert.equal(ud.apt?.sources['born-tuned-contrib.list'], { source: 'deb $MIRROR trixie contrib' });
  assert.ok(
    ud.runcmd.some((c) => c.join(' ').endsWith('born-tuned-storage-packages --kernel-headers zfs-dkms zfsutils-linux')),
    JSON.stringify(ud.runcmd),
  );
  const modprobe = ud.write_files.find((f) => f.path === '/etc/modprobe.d/60-born-tuned-zfs.conf');
  assert.ok(modprobe);
  assert.match(modprobe.content, /^options zfs zfs_arc_max=8589934592$/m);
  const packer = gen([...ZFS, '--artifact', 'packer-scripts']).stdout;
  assert.match(packer, 'root_replace /etc/apt/sources.list.d/born-tuned-contrib.list 0644 "$line"');
  assert.match(packer, "in_root '/usr/local/sbin/born-tuned-storage-packages' '--kernel-headers' 'zfs-dkms' 'zfsutils-linux'");
  const explain = gen(['explain', ...ZFS]).stdout;
  assert.match(explain, /minutes of compile/);
  assert.match(explain, /zfs\.arc_max\s+8589934592/);
});

test('a dir pool: no storage step, no storage script', () => {
  const ud = userData(profileArgs(['lxd-small']));
  assert.not.ok(stepNames(ud).some((n) => n.startsWith('storage')));
  assert.not.ok(ud.write_files.some((f) => f.path.includes('storage')));
});

test('incus-dense asks for a real device: btrfs on a placeholder the first boot refuses by name', () => {
  assert.equal(preseedPool(profileArgs(['incus-dense'])), {
    name: 'default',
    driver: 'btrfs',
    config: { source: '/dev/disk/by-id/CHANGE-ME-to-the-pool-disk' },
  });
});

test('no spare disk: an overlay makes the pool dir, source: null removing the placeholder', () => {
  writeFileSync(join(profiles, 'no-spare-disk.yaml'), 'overlay: true\nstorage_pools:\n  default: {driver: dir, source: null}\n');
  const stack = ['--profile', 'incus-dense', '--profiles-dir', profiles, '--profile', 'no-spare-disk'];
  assert.equal(preseedPool(stack), { name: 'default', driver: 'dir' });
  assert.not.ok(stepNames(userData(stack)).some((n) => n.startsWith('storage')));
  // Without null the placeholder stays, and a dir pool on a device is refused at its line.
  writeFileSync(join(profiles, 'dir-only.yaml'), 'overlay: true\nstorage_pools:\n  default: {driver: dir}\n');
  const r = gen(['--profile', 'incus-dense', '--profiles-dir', profiles, '--profile', 'dir-only']);
  assert.is(r.status, 1);
  assert.match(r.stderr, /incus-dense\.yaml:\d+:\d+: error INVALID_VALUE: a dir pool lives in a directory, not on a device/);
});

test.run();
