import { parse as parseHcl } from '@cdktf/hcl2json';
import {
  chmodSync,
  existsSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse as parseYaml } from 'yaml';
import type { ManifestEntry } from '../src/output/manifest.ts';
import { resolveStack } from '../src/pipeline.ts';
import type { HostPlan } from '../src/plan/model.ts';
import { headerLine, type Artifact } from '../src/render/artifact.ts';
import { renderHostFiles } from '../src/render/host-files.ts';
import { SNAP_INSTALL_OR_REFRESH } from '../src/render/snap-step.ts';
import { managerState } from '../src/facts/managers.ts';
import {
  PACKER_BUILD_SCRIPT,
  PACKER_EXECUTE_COMMAND,
  PACKER_NETDEV,
  PACKER_SCRIPTS,
  PACKER_SEED,
  renderPacker,
} from '../src/render/packer.ts';
import { GENERATOR_VERSION } from '../src/version.ts';
import { gen, profileArgs, readManifest, ROOT, run, stackName, STACKS } from './helpers.ts';

// Real tools only: `npm test` installs packer, shellcheck and cloud-init (test/real/install-debian-tools.sh).
// A missing tool fails these tests; nothing is skipped.

const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-packer-'));
let counter = 0;
function tempDir(name: string): string {
  const dir = join(scratch, `${counter++}-${name}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}

/** A stack's tree, written once and shared by the tests that only read it. */
const sharedTrees = new Map<string, { out: string; files: ManifestEntry[] }>();
function sharedTree(stack: readonly string[]): { out: string; files: ManifestEntry[] } {
  const key = stackName(stack);
  if (!sharedTrees.has(key)) sharedTrees.set(key, genTree(stack));
  return sharedTrees.get(key)!;
}

/** Writes a stack's tree with the real CLI and returns its directory and manifest (a fresh copy,
 * for tests that change it). */
function genTree(stack: readonly string[]): { out: string; files: ManifestEntry[] } {
  const out = join(tempDir(stackName(stack)), 'tree');
  // debian-12 is the e2e overlay that moves a shipped host profile to Debian 12.
  const r = gen([...profileArgs(stack), '--profiles-dir', 'test/e2e/profiles', '--out', out]);
  assert.is(r.status, 0, r.stderr);
  return { out, files: readManifest(out) };
}

/** Writes artifacts (paths under `packer/`) into a fresh directory, as `--out` would. */
function writeArtifacts(artifacts: readonly Artifact[], name: string): string {
  const out = tempDir(name);
  for (const a of artifacts) {
    const p = join(out, a.path);
    mkdirSync(join(p, '..'), { recursive: true });
    writeFileSync(p, a.text);
    chmodSync(p, a.mode);
  }
  return join(out, 'packer');
}

type Entry = { type: 'dir' | 'file' | 'other'; mode: number; bytes?: string };

/** Every entry under `root`: type, permission bits and (for files) bytes, keyed by relative path. */
function snapshot(root: string): Record<string, Entry> {
  const out: Record<string, Entry> = {};
  const walk = (dir: string, rel: string) => {
    for (const name of readdirSync(dir).sort()) {
      const abs = join(dir, name);
      const r = rel ? `${rel}/${name}` : name;
      const st = lstatSync(abs);
      if (st.isDirectory()) {
        out[r] = { type: 'dir', mode: st.mode & 0o7777 };
        walk(abs, r);
      } else if (st.isFile()) {
        out[r] = { type: 'file', mode: st.mode & 0o7777, bytes: readFileSync(abs).toString('base64') };
      } else {
        out[r] = { type: 'other', mode: st.mode & 0o7777 };
      }
    }
  };
  walk(root, '');
  return out;
}

/**
 * A directory of stub commands. `chroot ROOT CMD ARGS…` logs its argv (tab-separated, one line a
 * call) and runs the stub CMD with CHROOTED=1; a stub called directly logs its own argv, so any
 * command that bypassed chroot shows up in the log. An unstubbed command under chroot exits 127
 * instead of running the real one. `snap` keeps state: `snap list lxd` succeeds after an install.
 * `apt-get` fails unless DEBIAN_FRONTEND=noninteractive reached it.
 */
function stubs(): { bin: string; log: string; env: NodeJS.ProcessEnv } {
  const dir = tempDir('stubs');
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  const log = join(dir, 'argv.log');
  writeFileSync(log, '');
  const logLine = `(IFS=$'\\t'; printf '%s\\n' "$0 $*" | sed "s|^${bin}/||") >>"$STUB_LOG"`;
  const stub = (name: string, body: string) => {
    const p = join(bin, name);
    writeFileSync(p, `#!/bin/bash\nif [[ -z \${CHROOTED:-} ]]; then ${logLine}; fi\n${body}\n`);
    chmodSync(p, 0o755);
  };
  stub(
    'chroot',
    `
if [[ -x "${bin}/\${2##*/}" ]]; then CHROOTED=1 exec "${bin}/\${2##*/}" "\${@:3}"; fi
echo "stub chroot: no stub for $2" >&2
exit 127`,
  );
  stub('apt-get', '[[ ${DEBIAN_FRONTEND:-} == noninteractive ]] || { echo "DEBIAN_FRONTEND not set" >&2; exit 3; }');
  stub(
    'snap',
    `
state="${dir}/snap-installed"
case $1 in
list) [[ -f $state ]] && printf 'Name  Version  Rev    Tracking     Publisher   Notes\nlxd   5.21.3   33110  5.21/stable  canonical*  -\n' ;;
install) : >"$state" ;;
esac`,
  );
  // The snap step is one script run in the root (sh -c SCRIPT): what it calls is logged as run.
  stub('sh', 'unset CHROOTED; exec /bin/sh "$@"');
  // `test -x PATH` as seen inside ROOT (a chroot's view), for the fence's check for nft.
  stub('test', '[[ $1 == -x && -x ${ROOT%/}$2 ]]');
  stub('systemctl', 'exit 0');
  stub('cloud-init', 'exit 0');
  // The storage package step 10-files.sh installs (an absolute path under chroot: found by its name).
  stub('born-tuned-storage-packages', 'exit 0');
  stub('usermod', 'exit 0');
  stub('id', 'exit 0');
  return { bin, log, env: { PATH: `${bin}:/usr/bin:/bin`, STUB_LOG: log, LC_ALL: 'C' } };
}

/** The logged calls, each a list of argv words (the chroot directory replaced by ROOT). */
function calls(log: string, root: string): string[][] {
  return readFileSync(log, 'utf8')
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split(/[ \t]/).map((w) => (w === root ? 'ROOT' : w)));
}

function sh(script: string, env: NodeJS.ProcessEnv) {
  return run('bash', [script], { env });
}

const APT = ['apt-get', '-q', '-y', '-o', 'DPkg::Lock::Timeout=300'];

/** What 20-install-manager.sh does for the fence last, in a ROOT without nft: installs nftables
 * and enables the unit. */
const FENCE_CALLS = [
  ['chroot', 'ROOT', 'test', '-x', '/usr/sbin/nft'],
  ['chroot', 'ROOT', ...APT, 'update'],
  ['chroot', 'ROOT', ...APT, 'install', 'nftables'],
  ['chroot', 'ROOT', 'systemctl', 'enable', 'born-tuned-fence.service'],
];

/** What build.sh passes for each build (a password and the seed holding it), run from packer/. Packer
 * masks a sensitive value wherever it appears in its output: this one appears nowhere else. */
const login = ['-var', 'ssh_password=validate-only-password', '-var', `seed_user_data=${PACKER_SEED[0]}`];

/** The operator's checksum and build.sh's login: what `packer validate` needs to accept the template. */
const VALID_VARS = ['-var', `base_image_checksum=sha512:${'0'.repeat(128)}`, ...login];

/** Debian 12's sshd_config begins with the Include of its drop-in directory. */
const DEBIAN_SSHD_CONFIG =
  'Include /etc/ssh/sshd_config.d/*.conf\n#PasswordAuthentication yes\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n';

const SSHD_DROP_IN = 'etc/ssh/sshd_config.d/60-born-tuned-no-password.conf';

/** What a build VM's tree holds when 90-cleanup.sh runs, as paths relative to ROOT. */
interface BuildVm {
  /** Per-host identity and state: each must be gone. */
  removed: string[];
  /** Emptied in place (their mode kept). */
  emptied: string[];
}

/**
 * Plants in `root` what a Debian 12 build VM has after cloud-init ran its seed and the manager's
 * postinst started the daemon once (the daemon's files as it made them: see managerState), next to
 * files that must stay. Returns what the cleanup must remove or empty.
 */
function plantBuildVm(root: string, manager: 'lxd' | 'incus'): BuildVm {
  const put = (rel: string, text: string, mode = 0o644) => {
    mkdirSync(join(root, rel, '..'), { recursive: true });
    writeFileSync(join(root, rel), text);
    chmodSync(join(root, rel), mode);
  };
  const state = managerState(manager, 'deb');
  const stateDir = state.stateDir.slice(1);
  mkdirSync(join(root, stateDir), { recursive: true });
  chmodSync(join(root, stateDir), 0o711);
  const removed = [
    `${stateDir}/server.crt`,
    `${stateDir}/server.key`,
    `${stateDir}/database`,
    `${stateDir}/database/local.db`,
    `${stateDir}/database/global`,
    `${stateDir}/database/global/0000000000000001-0000000000000001`,
    `${stateDir}/database/global/metadata1`,
    `${stateDir}/containers`,
    `${stateDir}/.hidden-state`,
    `${state.logDir!.slice(1)}/${manager === 'lxd' ? 'lxd' : 'incusd'}.log`,
    'var/lib/dbus/machine-id',
    'etc/ssh/ssh_host_ed25519_key',
    'etc/ssh/ssh_host_ed25519_key.pub',
    'etc/ssh/ssh_host_ecdsa_key',
    'etc/ssh/ssh_host_ecdsa_key.pub',
    'etc/ssh/ssh_host_rsa_key',
    'etc/ssh/ssh_host_rsa_key.pub',
    'etc/ssh/sshd_config.d/50-cloud-init.conf',
    'var/lib/systemd/random-seed',
    'var/lib/systemd/credential.secret',
    'var/lib/dhcp/dhclient.enp1s0.leases',
    'var/log/journal/0123456789abcdef0123456789abcdef',
    'var/log/journal/0123456789abcdef0123456789abcdef/system.journal',
    'var/log/wtmp',
    'var/log/btmp',
    'var/log/lastlog',
    // Computed against the build VM's kernel and RAM, had its first-boot step run: never baked.
    'etc/sysctl.d/60-born-tuned.conf',
  ];
  for (const rel of removed) {
    if (/(database|global|containers|[0-9a-f]{32})$/.test(rel)) mkdirSync(join(root, rel), { recursive: true });
    else put(rel, `build VM: ${rel}\n`, rel.endsWith('_key') || rel.endsWith('.key') ? 0o600 : 0o644);
  }
  // The daemon's sockets, as it leaves them (a link stands in: a unix socket needs a listener).
  symlinkSync('/nonexistent/unix.socket', join(root, stateDir, 'unix.socket'));
  removed.push(`${stateDir}/unix.socket`);
  put('etc/machine-id', '0123456789abcdef0123456789abcdef\n', 0o444);
  put('etc/hostname', 'born-tuned-build\n');
  // What stays: the image's packages, configuration and package history.
  put('etc/ssh/sshd_config', DEBIAN_SSHD_CONFIG);
  put('etc/ssh/ssh_config', 'Host *\n');
  put('etc/ssh/moduli', '# moduli\n');
  put('etc/ssh/sshd_config.d/10-operator.conf', 'X11Forwarding no\n');
  put('var/lib/dhcp/dhcpd.conf.keep', 'not a lease\n');
  put('var/log/dpkg.log', 'install incus\n');
  put('var/log/apt/history.log', 'Commandline: apt-get install incus\n');
  put('var/lib/systemd/timers/stamp-apt-daily.timer', '');
  put('etc/default/grub', 'GRUB_TIMEOUT=0\n');
  put('etc/sysctl.d/10-incus-inotify.conf', 'fs.inotify.max_user_instances = 1024\n');
  return { removed, emptied: ['etc/machine-id', 'etc/hostname'] };
}

/** The tree 90-cleanup.sh must leave: `before` without what it removes, the emptied files empty
 * (mode kept), and the image's own sshd drop-in saying no to passwords. */
function expectedAfterCleanup(before: Record<string, Entry>, vm: BuildVm, header: string): Record<string, Entry> {
  const after = structuredClone(before);
  for (const rel of vm.removed) {
    assert.ok(after[rel], `the test planted no ${rel}`);
    delete after[rel];
  }
  for (const rel of vm.emptied) after[rel] = { ...after[rel]!, bytes: '' };
  const dropIn = after[SSHD_DROP_IN.replace(/\/[^/]*$/, '')];
  assert.ok(dropIn, 'sshd_config.d was planted');
  after[SSHD_DROP_IN] = {
    type: 'file',
    mode: 0o644,
    bytes: Buffer.from(
      `# ${header}\n# Written by the image's 90-cleanup.sh: no SSH password login unless this host's seed sets ssh_pwauth.\nPasswordAuthentication no\n`,
    ).toString('base64'),
  };
  return after;
}

test('the real tools are installed (npm test installs them; nothing here is skipped)', () => {
  const packer = run('packer', ['version']);
  assert.is(packer.status, 0, 'packer is missing: run bash test/real/install-debian-tools.sh');
  assert.match(packer.stdout, /Packer v1\.6\.6/);
  assert.is(run('shellcheck', ['--version']).status, 0, 'shellcheck is missing');
  assert.is(run('cloud-init', ['--version']).status, 0, 'cloud-init is missing');
  assert.is(run('yamllint', ['--version']).status, 0, 'yamllint is missing');
});

for (const stack of STACKS) {
  const name = stackName(stack);

  test(`packer ${name}: artifacts, modes and header lines`, () => {
    const { out, files } = sharedTree(stack);
    const packer = files.filter((f) => f.path.startsWith('packer/'));
    const template = `packer/${stack.join('-')}.pkr.hcl`;
    assert.equal(
      packer.map((f) => [f.path, f.kind, f.mode]).sort(),
      [
        [template, 'packer-template', '0644'],
        [`packer/${PACKER_BUILD_SCRIPT}`, 'packer-scripts', '0755'],
        ...PACKER_SCRIPTS.map((s) => [`packer/${s}`, 'packer-scripts', '0755']),
        ['packer/seed/meta-data', 'packer-seed', '0644'],
        ['packer/seed/user-data', 'packer-seed', '0644'],
        ['packer/user-data', 'packer-user-data', '0600'],
      ].sort(),
    );
    const header = headerLine(stack, GENERATOR_VERSION);
    for (const f of packer) {
      const lines = readFileSync(join(out, f.path), 'utf8').split('\n');
      assert.ok(lines.slice(0, 2).includes(`# ${header}`), `${f.path} lacks the header line`);
      assert.is((lstatSync(join(out, f.path)).mode & 0o777).toString(8), f.mode.slice(1));
    }
    for (const s of [PACKER_BUILD_SCRIPT, ...PACKER_SCRIPTS])
      assert.ok(readFileSync(join(out, 'packer', s), 'utf8').startsWith('#!/bin/bash\n'));
  });

  test(`packer ${name}: packer validate refuses the template without base_image_checksum, accepts it with one; packer fmt -check`, () => {
    const { out } = sharedTree(stack);
    const dir = join(out, 'packer');
    const file = `${stack.join('-')}.pkr.hcl`;
    const unpinned = run('packer', ['validate', ...login, file], { cwd: dir });
    assert.is(unpinned.status, 1, `packer validate accepted a template without a checksum:\n${unpinned.stdout}${unpinned.stderr}`);
    assert.match(unpinned.stdout + unpinned.stderr, /Unset variable "base_image_checksum"/);
    const pinned = run('packer', ['validate', '-var', `base_image_checksum=sha512:${'0'.repeat(128)}`, ...login, file], { cwd: dir });
    assert.is(pinned.status, 0, pinned.stdout + pinned.stderr);
    assert.is(pinned.stdout + pinned.stderr, '');
    // Without build.sh's password and seed, Packer has no login either.
    const bare = run('packer', ['validate', '-var', `base_image_checksum=sha512:${'0'.repeat(128)}`, file], { cwd: dir });
    assert.is(bare.status, 1);
    assert.match(bare.stdout + bare.stderr, /Unset variable "ssh_password"/);
    assert.match(bare.stdout + bare.stderr, /Unset variable "seed_user_data"/);
    const fmt = run('packer', ['fmt', '-check', '-diff', file], { cwd: dir });
    assert.is(fmt.status, 0, `packer fmt would change ${file}:\n${fmt.stdout}${fmt.stderr}`);
    // qemu_extra_args takes lists of a flag and its value (the e2e's direct kernel boot), not strings.
    const vars = join(dir, 'extra.pkrvars.hcl');
    writeFileSync(vars, 'qemu_extra_args = [["-kernel", "vmlinuz"], ["-append", "root=/dev/vda console=ttyS0"]]\n');
    const extra = run('packer', ['validate', ...VALID_VARS, `-var-file=${vars}`, file], { cwd: dir });
    assert.is(extra.status, 0, extra.stdout + extra.stderr);
    writeFileSync(vars, 'qemu_extra_args = ["-kernel", "vmlinuz"]\n');
    const flat = run('packer', ['validate', ...VALID_VARS, `-var-file=${vars}`, file], { cwd: dir });
    assert.is.not(flat.status, 0, 'packer validate accepted qemu_extra_args as a flat list of strings');
    rmSync(vars);
  });

  test(`packer ${name}: shellcheck -S style and bash -n accept every script`, () => {
    const { out } = sharedTree(stack);
    const scripts = [PACKER_BUILD_SCRIPT, ...PACKER_SCRIPTS].map((s) => join(out, 'packer', s));
    const sc = run('shellcheck', ['-S', 'style', ...scripts]);
    assert.is(sc.status, 0, sc.stdout + sc.stderr);
    for (const s of scripts) {
      const n = run('bash', ['-n', s]);
      assert.is(n.status, 0, n.stderr);
    }
  });

  test(`packer ${name}: 10-files.sh writes every host file exactly, twice to the same tree`, () => {
    const { out, files } = sharedTree(stack);
    const root = tempDir('root');
    const script = join(out, 'packer', PACKER_SCRIPTS[0]);
    const env = { PATH: '/usr/bin:/bin', ROOT: root };
    const first = sh(script, env);
    assert.is(first.status, 0, first.stderr);
    const once = snapshot(root);
    const second = sh(script, env);
    assert.is(second.status, 0, second.stderr);
    assert.equal(snapshot(root), once, 'a second run changed the tree');
    const installed = files.filter((f) => f.installed_at);
    assert.ok(installed.length >= 4);
    // The image carries the wanted sysctls, never a sysctl.d file: systemd-sysctl would apply the
    // profile's numbers at each host's first boot, before its apply step, lowering what its kernel sized.
    assert.ok(once['etc/born-tuned/sysctl.wanted'], 'the wanted file is baked');
    assert.equal(
      Object.keys(once).filter((p) => p.startsWith('etc/sysctl.d')),
      [],
      'nothing is baked into /etc/sysctl.d',
    );
    // Exactly the host files, nothing else (no temporary files left), directories 0755.
    const expected = new Set(installed.map((f) => f.installed_at!.slice(1)));
    for (const [path, e] of Object.entries(once)) {
      if (e.type === 'dir') assert.is(e.mode, 0o755, `${path} has mode ${e.mode.toString(8)}`);
      else assert.ok(expected.has(path), `unexpected ${path} under ROOT`);
    }
    for (const f of installed) {
      const got = once[f.installed_at!.slice(1)];
      assert.ok(got, `${f.installed_at} was not written`);
      assert.is(
        Buffer.from(got.bytes!, 'base64').toString('utf8'),
        readFileSync(join(out, f.path), 'utf8'),
        `${f.installed_at} differs from ${f.path}`,
      );
      assert.is(`0${got.mode.toString(8)}`, f.mode, `${f.installed_at} mode`);
    }
  });

  test(`packer ${name}: 20-install-manager.sh goes through chroot with the expected argv, twice`, () => {
    const { out } = sharedTree(stack);
    const { plan } = resolveStack({ profiles: [...stack] });
    const deb = plan.manager.deb!;
    assert.is(plan.manager.install, 'deb');
    const root = tempDir('root');
    const s = stubs();
    const script = join(out, 'packer', PACKER_SCRIPTS[1]);
    const env = { ...s.env, ROOT: root };
    const r1 = sh(script, env);
    assert.is(r1.status, 0, r1.stdout + r1.stderr);
    const after1 = snapshot(root);
    const log1 = calls(s.log, root);
    const r2 = sh(script, env);
    assert.is(r2.status, 0, r2.stdout + r2.stderr);
    assert.equal(snapshot(root), after1, 'a second run changed ROOT');
    const install = ['chroot', 'ROOT', ...APT, 'install', ...(deb.backports ? ['-t', deb.suite] : []), ...deb.packages];
    const storage = plan.storage.packages.length
      ? [['chroot', 'ROOT', '/usr/local/sbin/born-tuned-storage-packages', ...plan.storage.packages]]
      : [];
    const once = [['chroot', 'ROOT', ...APT, 'update'], install, ...FENCE_CALLS, ...storage];
    assert.equal(log1, once);
    assert.equal(calls(s.log, root), [...once, ...once]);
    if (deb.backports) {
      assert.equal(Object.keys(after1), ['etc', 'etc/apt', 'etc/apt/sources.list.d', 'etc/apt/sources.list.d/born-tuned-backports.list']);
      assert.is(
        readFileSync(join(root, 'etc/apt/sources.list.d/born-tuned-backports.list'), 'utf8'),
        `deb http://deb.debian.org/debian ${deb.suite} main\n`,
      );
    } else {
      assert.equal(after1, {}, 'no apt source is added for a package from the main suite');
    }
  });

  test(`packer ${name}: 90-cleanup.sh leaves no per-host identity in a build VM's tree, turns SSH password login off, and changes nothing else`, () => {
    const { out } = sharedTree(stack);
    const { plan } = resolveStack({ profiles: [...stack] });
    const root = tempDir('root');
    const vm = plantBuildVm(root, plan.manager.name);
    const before = snapshot(root);
    const s = stubs();
    const r = sh(join(out, 'packer', PACKER_SCRIPTS[2]), { ...s.env, ROOT: root, BUILD_USER: 'debian' });
    assert.is(r.status, 0, r.stdout + r.stderr);
    // Nothing is stopped or asked of journald when ROOT is not /: no service runs there.
    assert.equal(calls(s.log, root), [
      ['chroot', 'ROOT', 'id', '-u', 'debian'],
      ['chroot', 'ROOT', 'usermod', '-p', '*', 'debian'],
      ['chroot', 'ROOT', 'apt-get', '-q', '-y', 'clean'],
      ['chroot', 'ROOT', 'cloud-init', 'clean', '--logs'],
    ]);
    assert.equal(snapshot(root), expectedAfterCleanup(before, vm, headerLine(stack, GENERATOR_VERSION)));
    const again = sh(join(out, 'packer', PACKER_SCRIPTS[2]), { ...s.env, ROOT: root, BUILD_USER: 'debian' });
    assert.is(again.status, 0, again.stderr);
    assert.equal(snapshot(root), expectedAfterCleanup(before, vm, headerLine(stack, GENERATOR_VERSION)), 'a second run changed the tree');
  });

  test(`packer ${name}: the build VM's SSH forward and VNC console listen on 127.0.0.1 only`, async () => {
    const { out } = sharedTree(stack);
    const text = readFileSync(join(out, 'packer', `${stack.join('-')}.pkr.hcl`), 'utf8');
    const src = ((await parseHcl('t.pkr.hcl', text)) as Record<string, any>).source.qemu.born_tuned[0];
    assert.is(src.vnc_bind_address, '127.0.0.1');
    // Packer's own -netdev forwards from every host address; ours replaces it, same id. The
    // operator's qemu_extra_args come after it (none by default).
    assert.is(src.qemuargs, `\${concat([["-netdev", ${JSON.stringify(PACKER_NETDEV)}]], var.qemu_extra_args)}`);
    const extra = ((await parseHcl('t.pkr.hcl', text)) as Record<string, any>).variable.qemu_extra_args[0];
    assert.equal(extra.default, []);
    assert.is(extra.type, '${list(list(string))}');
    assert.match(PACKER_NETDEV, /^user,id=user\.0,hostfwd=tcp:127\.0\.0\.1:\{\{ \.SSHHostPort \}\}-:22$/);
    assert.is(src.net_device, 'virtio-net');
  });

  test(`packer ${name}: the template parses (HashiCorp HCL) with only var.* interpolations`, async () => {
    const { out } = sharedTree(stack);
    const text = readFileSync(join(out, 'packer', `${stack.join('-')}.pkr.hcl`), 'utf8');
    const hcl = (await parseHcl('t.pkr.hcl', text)) as Record<string, any>;
    const variables = Object.keys(hcl.variable).sort();
    assert.equal(variables, [
      'accelerator',
      'base_image_checksum',
      'base_image_url',
      'disk_size',
      'output_directory',
      'qemu_extra_args',
      'seed_user_data',
      'ssh_password',
      'ssh_username',
      'vm_name',
    ]);
    // Without a default, Packer refuses to build until it is given: the checksum by the operator,
    // the login by build.sh.
    const required = ['base_image_checksum', 'seed_user_data', 'ssh_password'];
    for (const v of variables) {
      assert.type(hcl.variable[v][0].description, 'string', `variable ${v} has no description`);
      if (v === 'qemu_extra_args') continue; // a list, checked with qemuargs (127.0.0.1 only)
      assert.type(hcl.variable[v][0].default, required.includes(v) ? 'undefined' : 'string', `variable ${v}'s default`);
    }
    // hcl2json shows a type constraint as an expression; it is not an interpolation of ours.
    for (const v of variables) {
      assert.is(hcl.variable[v][0].type, v === 'qemu_extra_args' ? '${list(list(string))}' : '${string}');
      delete hcl.variable[v][0].type;
    }
    // qemuargs is the one expression beyond var.*: concat of our -netdev and var.qemu_extra_args
    // (its exact text is checked with the 127.0.0.1 forward).
    const src = hcl.source.qemu.born_tuned[0];
    assert.match(src.qemuargs, /^\$\{concat\(\[\["-netdev", .*\]\], var\.qemu_extra_args\)\}$/);
    delete src.qemuargs;
    const json = JSON.stringify(hcl);
    const interpolations = [...json.matchAll(/(?<!\$)\$\{([^}]*)\}/g)].map((m) => m[1]!);
    assert.ok(interpolations.length > 0);
    for (const i of interpolations) {
      assert.match(i, /^var\.[a-z_]+$/, `unexpected interpolation \${${i}}`);
      assert.ok(variables.includes(i.slice(4)), `\${${i}} names no declared variable`);
    }
    assert.not.match(text, /(?<!%)%\{/, 'an HCL template directive');
    assert.is(src.disk_image, true);
    assert.is(src.headless, true);
    assert.is(src.communicator, 'ssh');
    assert.is(src.iso_url, '${var.base_image_url}');
    assert.is(src.ssh_password, '${var.ssh_password}');
    assert.equal(src.cd_files, ['${var.seed_user_data}', PACKER_SEED[1]]);
    assert.is(src.cd_label, 'cidata');
    assert.is(hcl.variable.ssh_password[0].sensitive, true);
    const build = hcl.build[0];
    assert.is(build.name, stack.join('-'));
    assert.equal(build.sources, ['source.qemu.born_tuned']);
    // First the wait for the build VM's cloud-init (0: done; 2: done with recoverable errors),
    // then the scripts.
    assert.is(build.provisioner.shell.length, 2);
    assert.equal(build.provisioner.shell[0], { inline: ['cloud-init status --wait >/dev/null'], valid_exit_codes: [0, 2] });
    const shell = build.provisioner.shell[1];
    assert.equal(shell.scripts, [...PACKER_SCRIPTS]);
    assert.is(shell.execute_command, PACKER_EXECUTE_COMMAND);
    assert.equal(shell.environment_vars, ['BUILD_USER=${var.ssh_username}']);
    // No password in the tree: build.sh draws one for each build.
    const seed = parseYaml(readFileSync(join(out, 'packer/seed/user-data'), 'utf8')) as Record<string, unknown>;
    assert.equal(seed, { chpasswd: { expire: false }, ssh_pwauth: true });
    assert.match(hcl.variable.base_image_checksum[0].description, /SHA(512|256)SUMS/);
  });

  test(`packer ${name}: cloud-init schema and yamllint accept the build VM's seed`, () => {
    const { out } = sharedTree(stack);
    const r = run('cloud-init', ['schema', '--config-file', join(out, 'packer/seed/user-data')]);
    assert.is(r.status, 0, r.stdout + r.stderr);
    const seed = PACKER_SEED.map((f) => join(out, 'packer', f));
    const lint = run('yamllint', ['-s', '-c', join(ROOT, '.yamllint'), '-f', 'parsable', ...seed]);
    assert.is(lint.status, 0, lint.stdout + lint.stderr);
    const meta = parseYaml(readFileSync(join(out, 'packer/seed/meta-data'), 'utf8')) as Record<string, unknown>;
    assert.equal(Object.keys(meta), ['instance-id', 'local-hostname']);
  });
}

for (const stack of [['lxd-small'], ['incus-dense']]) {
  test(`packer ${stackName(stack)}: 90-cleanup.sh in the build VM (ROOT=/, run in a chroot of a build VM's tree) stops the daemon, its sockets and systemd-random-seed before it removes their files`, () => {
    const { out } = sharedTree(stack);
    const { plan } = resolveStack({ profiles: [...stack] });
    const state = managerState(plan.manager.name, plan.manager.install);
    const root = tempDir('root-slash');
    const vm = plantBuildVm(root, plan.manager.name);
    // What the chroot needs to run bash and coreutils: the host's /usr (bind-mounted read-only in a
    // private mount namespace), the merged-/usr links, /dev/null, and the stub commands.
    mkdirSync(join(root, 'usr'));
    for (const d of ['bin', 'sbin', 'lib', 'lib64']) symlinkSync(`usr/${d}`, join(root, d));
    mkdirSync(join(root, 'dev'));
    writeFileSync(join(root, 'dev/null'), '');
    mkdirSync(join(root, 'stubs'));
    const stub = (name: string, body: string) => {
      writeFileSync(join(root, 'stubs', name), `#!/bin/bash\nprintf '%s\\n' "${name} $*" >>/stub.log\n${body}\n`);
      chmodSync(join(root, 'stubs', name), 0o755);
    };
    const crt = `${state.stateDir}/server.crt`;
    // One unit of the manager is not running: it is not stopped.
    const inactive = state.units[state.units.length - 1]!;
    stub(
      'systemctl',
      `case $1 in
is-active) [[ $3 != ${inactive} ]] ;;
stop) for f in ${crt} /var/lib/systemd/random-seed; do [[ -e $f ]] && echo "present $f" >>/stub.log; done ;;
esac`,
    );
    for (const c of ['journalctl', 'id', 'usermod', 'apt-get', 'cloud-init']) stub(c, 'exit 0');
    symlinkSync(run('readlink', ['-f', '/usr/bin/awk']).stdout.trim(), join(root, 'stubs/awk'));
    writeFileSync(join(root, 'cleanup.sh'), readFileSync(join(out, 'packer', PACKER_SCRIPTS[2])));
    const before = snapshot(root);
    const r = run('unshare', [
      '--mount',
      '--propagation',
      'private',
      'bash',
      '-c',
      'set -e; mount --bind /usr "$1/usr"; mount -o remount,bind,ro "$1/usr"; mount --bind /dev/null "$1/dev/null"; ' +
        'exec chroot "$1" /usr/bin/env -i PATH=/stubs:/usr/sbin:/usr/bin ROOT=/ BUILD_USER=debian /bin/bash /cleanup.sh',
      'cleanup-in-chroot',
      root,
    ]);
    assert.is(r.status, 0, r.stdout + r.stderr);
    const log = readFileSync(join(root, 'stub.log'), 'utf8').split('\n').slice(0, -1);
    const units = [...state.units, 'systemd-random-seed.service'];
    assert.equal(log, [
      'id -u debian',
      'usermod -p * debian',
      'apt-get -q -y clean',
      ...units.map((u) => `systemctl is-active --quiet ${u}`),
      `systemctl stop -- ${units.filter((u) => u !== inactive).join(' ')}`,
      `present ${crt}`,
      'present /var/lib/systemd/random-seed',
      'journalctl --relinquish-var',
      'cloud-init clean --logs',
    ]);
    const after = snapshot(root);
    delete after['stub.log'];
    assert.equal(after, expectedAfterCleanup(before, vm, headerLine(stack, GENERATOR_VERSION)));
  });
}

test('packer: build.sh draws a new password for each build, hands it and the seed holding it to Packer through the environment (the real packer validates them), and leaves nothing behind', () => {
  const stack = ['incus-dense'];
  const { out } = sharedTree(stack);
  const packer = run('bash', ['-c', 'command -v packer']).stdout.trim();
  const dir = tempDir('build-sh');
  mkdirSync(join(dir, 'bin'));
  // `packer build ARGS` records what it was given, then runs the real `packer validate ARGS`.
  writeFileSync(
    join(dir, 'bin/packer'),
    `#!/bin/bash
set -e
rec=$REC
printf '%s\\n' "$@" >"$rec/argv"
printf '%s' "$PKR_VAR_ssh_password" >"$rec/password"
printf '%s' "$PKR_VAR_seed_user_data" >"$rec/seed-path"
cp -- "$PKR_VAR_seed_user_data" "$rec/user-data"
stat -c %a -- "$PKR_VAR_seed_user_data" "$(dirname -- "$PKR_VAR_seed_user_data")" >"$rec/modes"
[[ $1 == build ]] || exit 9
shift
exec ${packer} validate "$@"
`,
  );
  chmodSync(join(dir, 'bin/packer'), 0o755);
  const checksum = `base_image_checksum=sha512:${'0'.repeat(128)}`;
  const seedText = readFileSync(join(out, 'packer', PACKER_SEED[0]), 'utf8');
  const passwords: string[] = [];
  for (let i = 0; i < 2; i++) {
    const rec = tempDir('rec');
    const r = run('bash', [join(out, 'packer', PACKER_BUILD_SCRIPT), '-var', checksum], {
      cwd: dir,
      env: { PATH: `${join(dir, 'bin')}:/usr/bin:/bin`, REC: rec, TMPDIR: dir },
    });
    assert.is(r.status, 0, r.stdout + r.stderr);
    const password = readFileSync(join(rec, 'password'), 'utf8');
    assert.match(password, /^[0-9a-f]{48}$/);
    passwords.push(password);
    const argv = readFileSync(join(rec, 'argv'), 'utf8');
    assert.is(argv, `build\n-var\n${checksum}\n${stack.join('-')}.pkr.hcl\n`);
    const userData = readFileSync(join(rec, 'user-data'), 'utf8');
    assert.is(userData, `${seedText}password: ${password}\n`);
    assert.equal(parseYaml(userData), { chpasswd: { expire: false }, ssh_pwauth: true, password });
    const schema = run('cloud-init', ['schema', '--config-file', join(rec, 'user-data')]);
    assert.is(schema.status, 0, schema.stdout + schema.stderr);
    assert.is(readFileSync(join(rec, 'modes'), 'utf8'), '600\n700\n');
    const seedPath = readFileSync(join(rec, 'seed-path'), 'utf8');
    assert.ok(seedPath.startsWith(`${dir}/`) && seedPath.endsWith('/user-data'), seedPath);
    assert.not.ok(existsSync(join(seedPath, '..')), 'the seed directory outlived the build');
  }
  assert.is.not(passwords[0], passwords[1], 'two builds drew the same password');
  // Only what the test made itself is left next to the stub.
  assert.equal(readdirSync(dir).sort(), ['bin']);
});

function planOf(stack: string[], edit: (p: HostPlan) => void): HostPlan {
  const { plan } = resolveStack({ profiles: stack });
  const copy = structuredClone(plan);
  edit(copy);
  return copy;
}

function packerTree(plan: HostPlan, name: string, hostFiles?: Artifact[]): string {
  const header = headerLine(plan.stack, GENERATOR_VERSION);
  const files = hostFiles ?? renderHostFiles(plan, header);
  const slim: Artifact = {
    kind: 'packer-user-data',
    path: 'packer/user-data',
    mode: 0o600,
    purpose: 'x',
    text: '#cloud-config\n',
    format: 'cloud-config',
    data: {},
  };
  return writeArtifacts([...renderPacker(plan, header, files, slim), slim], name);
}

test('packer: the snap install goes through snapd, and a second run refreshes instead of installing', () => {
  const plan = planOf(['lxd-small'], (p) => {
    p.manager = { ...p.manager, install: 'snap', version: '5.21', snapChannel: '5.21/stable', needsSnapd: true, deb: undefined };
  });
  const dir = packerTree(plan, 'snap');
  const script = join(dir, PACKER_SCRIPTS[1]);
  const check = run('shellcheck', ['-S', 'style', script]);
  assert.is(check.status, 0, check.stdout);
  const root = tempDir('root');
  const s = stubs();
  const env = { ...s.env, ROOT: root };
  const runOnce = () => {
    writeFileSync(s.log, '');
    const r = sh(script, env);
    assert.is(r.status, 0, r.stderr);
    return readFileSync(s.log, 'utf8').split(root).join('ROOT');
  };
  // First boot's own script (snap-step.ts, tested in five states by snap-refresh.test.ts) runs in
  // the root: it installs when the snap is absent and refreshes it on the same track.
  for (const [log, verb, not] of [
    [runOnce(), 'install', 'refresh'],
    [runOnce(), 'refresh', 'install'],
  ] as const) {
    assert.ok(log.includes(`chroot ROOT\t${APT.join('\t')}\tinstall\tsnapd\n`), log);
    assert.ok(log.includes('chroot ROOT\tsnap\twait\tsystem\tseed.loaded\n'), log);
    assert.ok(log.includes(`chroot ROOT\tsh\t-c\t${SNAP_INSTALL_OR_REFRESH}\tborn-tuned-snap\t5.21/stable\n`), log);
    assert.ok(log.includes(`\nsnap ${verb}\tlxd\t--channel=5.21/stable\n`), log);
    assert.not.ok(log.includes(`snap ${not}\t`), log);
  }
  assert.equal(snapshot(root), {});
});

test('packer: install: present only checks that the client exists (and sets up the fence)', () => {
  const plan = planOf(['incus-dense'], (p) => {
    p.manager = { ...p.manager, install: 'present', deb: undefined };
  });
  const dir = packerTree(plan, 'present');
  const script = join(dir, PACKER_SCRIPTS[1]);
  assert.is(run('shellcheck', ['-S', 'style', script]).status, 0);
  const root = tempDir('root');
  const s = stubs();
  const missing = sh(script, { ...s.env, ROOT: root });
  assert.is(missing.status, 1);
  assert.match(missing.stderr, /incus is not installed/);
  mkdirSync(join(root, 'usr/bin'), { recursive: true });
  writeFileSync(join(root, 'usr/bin/incus'), '#!/bin/sh\n');
  chmodSync(join(root, 'usr/bin/incus'), 0o755);
  for (let i = 0; i < 2; i++) {
    const ok = sh(script, { ...s.env, ROOT: root });
    assert.is(ok.status, 0, ok.stderr);
    assert.match(ok.stdout, /found \/usr\/bin\/incus/);
  }
  // Nothing is installed for the manager; the fence gets nftables (still missing: apt is a stub)
  // and its unit enabled, and incus-dense's btrfs pool its package step, each run. The missing
  // client stopped the first run before either.
  const storage = ['chroot', 'ROOT', '/usr/local/sbin/born-tuned-storage-packages', 'btrfs-progs'];
  assert.equal(calls(s.log, root), [...FENCE_CALLS, storage, ...FENCE_CALLS, storage]);
  // With nft in the image, only the unit is enabled.
  mkdirSync(join(root, 'usr/sbin'), { recursive: true });
  writeFileSync(join(root, 'usr/sbin/nft'), '#!/bin/sh\n');
  chmodSync(join(root, 'usr/sbin/nft'), 0o755);
  writeFileSync(s.log, '');
  assert.is(sh(script, { ...s.env, ROOT: root }).status, 0);
  assert.equal(calls(s.log, root), [FENCE_CALLS[0], FENCE_CALLS[3], storage]);
});

test('packer: an existing source for the backports suite (deb822) is reused, not duplicated', () => {
  const { out } = genTree(['incus-dense', 'debian-12']);
  const root = tempDir('root');
  mkdirSync(join(root, 'etc/apt/sources.list.d'), { recursive: true });
  const sources =
    'Types: deb\nURIs: http://deb.debian.org/debian\nSuites: bookworm bookworm-updates bookworm-backports\nComponents: main\n';
  writeFileSync(join(root, 'etc/apt/sources.list.d/debian.sources'), sources);
  const s = stubs();
  const r = sh(join(out, 'packer', PACKER_SCRIPTS[1]), { ...s.env, ROOT: root });
  assert.is(r.status, 0, r.stderr);
  assert.equal(readdirSync(join(root, 'etc/apt/sources.list.d')), ['debian.sources']);
  // A commented-out mention does not count.
  writeFileSync(join(root, 'etc/apt/sources.list.d/debian.sources'), sources.replace('Suites', '# Suites'));
  assert.is(sh(join(out, 'packer', PACKER_SCRIPTS[1]), { ...s.env, ROOT: root }).status, 0);
  assert.ok(existsSync(join(root, 'etc/apt/sources.list.d/born-tuned-backports.list')));
});

test('packer: hostile file contents and names reach the host byte for byte, and HCL stays literal', async () => {
  const evil = `it's $(touch PWNED) \`touch PWNED\` \${HOME} $HOME \\ \\n '' "q" %{x} {{ .Path }}\n\n\tEOF\n'EOF'\nno trailing newline`;
  const hostFiles: Artifact[] = [
    { kind: 'sysctl', path: 'x/evil', hostPath: "/etc/born tuned/it's $(x).conf", mode: 0o640, purpose: 'x', text: evil, format: 'text' },
    { kind: 'limits', path: 'x/empty', hostPath: '/etc/empty', mode: 0o600, purpose: 'x', text: '', format: 'text' },
    { kind: 'limits', path: 'x/none', mode: 0o644, purpose: 'not installed', text: 'x', format: 'text' },
  ];
  const plan = planOf(['lxd-small'], (p) => {
    p.stack = ['a"b${c}%{d}\\e'];
  });
  const dir = packerTree(plan, 'hostile', hostFiles);
  const script = join(dir, PACKER_SCRIPTS[0]);
  assert.is(run('shellcheck', ['-S', 'style', script]).status, 0);
  const root = tempDir('root');
  const cwd = tempDir('cwd');
  for (let i = 0; i < 2; i++) assert.is(run('bash', [script], { cwd, env: { PATH: '/usr/bin:/bin', ROOT: `${root}/` } }).status, 0);
  const tree = snapshot(root);
  assert.equal(Object.keys(tree), ['etc', 'etc/born tuned', "etc/born tuned/it's $(x).conf", 'etc/empty']);
  assert.is(Buffer.from(tree["etc/born tuned/it's $(x).conf"]!.bytes!, 'base64').toString(), evil);
  assert.is(tree["etc/born tuned/it's $(x).conf"]!.mode, 0o640);
  assert.is(tree['etc/empty']!.bytes, '');
  assert.is(tree['etc/empty']!.mode, 0o600);
  assert.equal(readdirSync(cwd), [], 'something in the content was executed');
  // The stack name reaches the HCL only as literal strings.
  const file = readdirSync(dir).find((f) => f.endsWith('.pkr.hcl'))!;
  const hcl = (await parseHcl(file, readFileSync(join(dir, file), 'utf8'))) as Record<string, any>;
  // hcl2json keeps the escapes $${ and %%{ verbatim (not always the latter): undo them to compare.
  const name = hcl.build[0].name as string;
  assert.not.match(name, /(?<!\$)\$\{/);
  assert.is(name.replace(/\$\$\{/g, '${').replace(/%%\{/g, '%{'), plan.stack[0]);
  const v = run('packer', ['validate', ...VALID_VARS, file], { cwd: dir });
  assert.is(v.status, 0, v.stdout + v.stderr);
});

test('packer: the -netdev we give replaces one that Packer 1.6.6 binds to every address, with the id its -device attaches to', () => {
  // What the installed Packer's qemu builder writes when qemuargs has no -netdev (its format
  // strings, as compiled in), so the override is needed and keeps the NIC attached.
  const packer = run('sh', ['-c', 'command -v packer']).stdout.trim();
  const binary = readFileSync(packer);
  assert.ok(binary.includes('user,id=user.0,hostfwd=tcp::%v-:%d'), 'Packer no longer forwards SSH as it did');
  assert.ok(binary.includes('%s,netdev=user.0'), 'Packer no longer attaches its NIC to user.0');
  assert.not.ok(binary.includes('hostfwd=tcp:127.0.0.1:'), 'Packer binds its forward itself now: the override may go');
});

test('negative: packer validate rejects an unknown argument and a missing script', () => {
  const { out } = genTree(['lxd-small']);
  const dir = join(out, 'packer');
  const file = 'lxd-small.pkr.hcl';
  const good = readFileSync(join(dir, file), 'utf8');
  writeFileSync(join(dir, file), good.replace('  disk_image       = true\n', '  disk_image       = true\n  bogus_argument   = true\n'));
  const bad = run('packer', ['validate', ...VALID_VARS, file], { cwd: dir });
  assert.is.not(bad.status, 0);
  assert.match(bad.stdout + bad.stderr, /An argument named "bogus_argument" is not expected here/);
  writeFileSync(join(dir, file), good);
  rmSync(join(dir, PACKER_SCRIPTS[2]));
  const missing = run('packer', ['validate', ...VALID_VARS, file], { cwd: dir });
  assert.is.not(missing.status, 0);
  assert.match(missing.stdout + missing.stderr, /90-cleanup\.sh/);
  writeFileSync(join(dir, file), good.replace('  headless         = true\n', '  headless = true\n'));
  assert.is.not(run('packer', ['fmt', '-check', file], { cwd: dir }).status, 0, 'packer fmt -check accepts a misaligned file');
});

test('negative: shellcheck -S warning and bash -n fail on bad scripts', () => {
  const dir = tempDir('bad-scripts');
  writeFileSync(join(dir, 'warn.sh'), '#!/bin/bash\nunused=1\n');
  writeFileSync(join(dir, 'syntax.sh'), '#!/bin/bash\nif true; then\n');
  assert.is.not(run('shellcheck', ['-S', 'warning', join(dir, 'warn.sh')]).status, 0);
  assert.is.not(run('bash', ['-n', join(dir, 'syntax.sh')]).status, 0);
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

test.run();
