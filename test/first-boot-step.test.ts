import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { gen, profileArgs, run } from './helpers.ts';

/** The runcmd step wrapper, run for real by dash: a failed step is recorded, later steps still
 * run, and the final --check fails so cloud-init reports the run as failed. */
const dir = mkdtempSync(join(tmpdir(), 'born-tuned-step-'));
const script = join(dir, 'born-tuned-step');
writeFileSync(script, gen(['--profile', 'lxd-small', '--artifact', 'first-boot-step']).stdout, { mode: 0o755 });
const env = { ...process.env, BORN_TUNED_STATE: join(dir, 'state') };

test('shellcheck and dash -n accept the wrapper', () => {
  const sc = run('shellcheck', ['-S', 'warning', script]);
  assert.is(sc.status, 0, sc.stdout);
  assert.is(run('dash', ['-n', script]).status, 0);
});

test('a failing step is recorded, the next steps run, and --check fails naming it', () => {
  const marker = join(dir, 'ran');
  const steps = [
    ['ok-step', 'true'],
    ['broken-step', 'sh', '-c', 'exit 3'],
    ['later-step', 'touch', marker],
  ];
  for (const s of steps) assert.is(run('dash', [script, ...s], { env }).status, 0, 'a step never stops runcmd');
  assert.ok(existsSync(marker), 'the step after a failure still ran');
  const check = run('dash', [script, '--check'], { env });
  assert.is(check.status, 1);
  assert.match(check.stderr, /first-boot steps failed: broken-step\(exit 3\)/);
});

test('--check passes when every step succeeded', () => {
  const clean = { ...env, BORN_TUNED_STATE: join(dir, 'clean') };
  assert.is(run('dash', [script, 'ok', 'true'], { env: clean }).status, 0);
  const check = run('dash', [script, '--check'], { env: clean });
  assert.is(check.status, 0);
  assert.match(check.stdout, /every first-boot step succeeded/);
});

test('every runcmd item of every user-data goes through the wrapper, --check last', () => {
  for (const stack of [['lxd-small'], ['incus-dense', '10gbe']]) {
    const ud = parse(gen(profileArgs(stack)).stdout) as { runcmd: string[][] };
    assert.ok(ud.runcmd.every((c) => c[0] === '/usr/local/sbin/born-tuned-step'));
    assert.equal(ud.runcmd.at(-1), ['/usr/local/sbin/born-tuned-step', '--check']);
  }
});

test.run();
