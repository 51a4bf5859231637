import { mkdirSync, mkdtempSync, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, run } from './helpers.ts';

/** The first-boot apply script, run for real by dash against a fake /proc/sys. */
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-apply-'));
const script = join(dir, 'born-tuned-sysctl-apply');
const r = gen(['--profile', 'incus-dense', '--artifact', 'sysctl-apply']);
writeFileSync(script, r.stdout, { mode: 0o755 });

function fakeProc(values: Record<string, string>): string {
  const root = mkdtempSync(join(dir, 'proc-'));
  for (const [key, value] of Object.entries(values)) {
    const file = join(root, ...key.split('.'));
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, `${value}\n`);
  }
  return root;
}

const read = (root: string, key: string) => readFileSync(join(root, ...key.split('.')), 'utf8').trim();

test('the script passes shellcheck and dash -n', () => {
  const sc = run('shellcheck', ['-S', 'warning', '-s', 'sh', script]);
  assert.is(sc.status, 0, sc.stdout + sc.stderr);
  assert.is(run('dash', ['-n', script]).status, 0);
});

test('raise: higher host values are kept and recorded, lower ones raised, exact keys set as is', () => {
  const proc = fakeProc({
    'vm.max_map_count': '1048576',
    'fs.aio-max-nr': '65536',
    'net.ipv4.tcp_mem': '10\t400000\t20',
    'kernel.dmesg_restrict': '1',
  });
  const conf = join(proc, 'conf');
  const keep = join(proc, 'keep.conf');
  writeFileSync(
    conf,
    '# comment\nvm.max_map_count = 262144\nfs.aio-max-nr = 524288\nnet.ipv4.tcp_mem = 182757 243679 365514\nkernel.dmesg_restrict = 0\nfs.not.here = 5\n',
  );
  const res = run('dash', [script, conf, keep, 'exact:kernel.dmesg_restrict'], { env: { ...process.env, PROC_SYS: proc } });
  assert.is(res.status, 0, res.stderr);
  assert.is(read(proc, 'vm.max_map_count'), '1048576');
  assert.is(read(proc, 'fs.aio-max-nr'), '524288');
  assert.is(read(proc, 'net.ipv4.tcp_mem'), '182757 400000 365514');
  assert.is(read(proc, 'kernel.dmesg_restrict'), '0');
  assert.match(res.stderr, /fs\.not\.here does not exist on this kernel; skipped/);
  const kept = readFileSync(keep, 'utf8');
  assert.match(kept, /^vm\.max_map_count = 1048576$/m);
  assert.match(kept, /^net\.ipv4\.tcp_mem = 182757 400000 365514$/m);
  assert.not.match(kept, /aio-max-nr|dmesg/);

  const again = run('dash', [script, conf, keep, 'exact:kernel.dmesg_restrict'], { env: { ...process.env, PROC_SYS: proc } });
  assert.is(again.status, 0);
  assert.is(readFileSync(keep, 'utf8'), kept, 'a second run changes nothing');
});

test('no keep-higher file when nothing on the host was higher', () => {
  const proc = fakeProc({ 'fs.aio-max-nr': '65536' });
  const conf = join(proc, 'conf');
  const keep = join(proc, 'keep.conf');
  writeFileSync(conf, 'fs.aio-max-nr = 524288\n');
  const res = run('dash', [script, conf, keep], { env: { ...process.env, PROC_SYS: proc } });
  assert.is(res.status, 0, res.stderr);
  assert.not.ok(existsSync(keep));
});

test('a value the kernel refuses makes the script fail (visible in cloud-init status)', () => {
  const proc = fakeProc({ 'net.core.bpf_jit_limit': '264241152' });
  const conf = join(proc, 'conf');
  writeFileSync(conf, 'net.core.bpf_jit_limit = 1000000000\n');
  run('chmod', ['0444', join(proc, 'net', 'core', 'bpf_jit_limit')]);
  run('chattr', ['+i', join(proc, 'net', 'core', 'bpf_jit_limit')]);
  const res = run('dash', [script, conf, join(proc, 'keep')], { env: { ...process.env, PROC_SYS: proc } });
  run('chattr', ['-i', join(proc, 'net', 'core', 'bpf_jit_limit')]);
  assert.is(res.status, 1);
  assert.match(res.stderr, /the kernel refused net\.core\.bpf_jit_limit = 1000000000/);
});

test.run();
