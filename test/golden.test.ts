import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { gen, profileArgs, readManifest, ROOT, stackName, STACKS } from './helpers.ts';

/**
 * Golden trees: for every shipped stack, `gen --out` must produce exactly the files under
 * test/golden/<stack>/ (same paths, same bytes, modes as in its manifest), stdout user-data must be
 * the tree's user-data, and warnings must match <stack>.stderr. UPDATE_GOLDEN=1 rewrites them.
 */
const UPDATE = process.env.UPDATE_GOLDEN === '1';
const GOLDEN = join(ROOT, 'test', 'golden');
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-golden-'));

function listFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d, { withFileTypes: true })) {
      if (e.isDirectory()) walk(join(d, e.name));
      else out.push(relative(dir, join(d, e.name)));
    }
  };
  walk(dir);
  return out.sort();
}

for (const stack of STACKS) {
  const name = stackName(stack);

  test(`golden tree of ${name}: same files, same bytes, modes as the manifest says`, () => {
    const out = join(scratch, name);
    const r = gen([...profileArgs(stack), '--out', out]);
    assert.is(r.status, 0, r.stderr);
    const golden = join(GOLDEN, name);
    if (UPDATE) {
      rmSync(golden, { recursive: true, force: true });
      for (const f of listFiles(out)) {
        mkdirSync(join(golden, f, '..'), { recursive: true });
        writeFileSync(join(golden, f), readFileSync(join(out, f)));
      }
      writeFileSync(join(GOLDEN, `${name}.stderr`), r.stderr);
      return;
    }
    assert.ok(existsSync(golden), `no golden tree for ${name}: run UPDATE_GOLDEN=1 npm test once and review it`);
    assert.equal(listFiles(out), listFiles(golden), 'the set of files differs');
    for (const f of listFiles(out)) {
      assert.fixture(
        readFileSync(join(out, f), 'utf8'),
        readFileSync(join(golden, f), 'utf8'),
        `${f} differs from test/golden/${name}/${f}`,
      );
    }
    const manifest = readManifest(out);
    for (const entry of manifest) {
      assert.is(`0${(statSync(join(out, entry.path)).mode & 0o777).toString(8)}`, entry.mode, `mode of ${entry.path}`);
    }
    assert.is(r.stderr, readFileSync(join(GOLDEN, `${name}.stderr`), 'utf8'), 'warnings differ (gen --out prints nothing else on stderr)');
  });

  test(`stdout of ${name} is the tree's user-data, byte-identical across runs, with the golden warnings`, () => {
    const a = gen(profileArgs(stack));
    const b = gen(profileArgs(stack));
    assert.is(a.status, 0, a.stderr);
    assert.is(a.stdout, b.stdout);
    assert.ok(a.stdout.startsWith('#cloud-config\n'));
    if (!UPDATE) {
      assert.is(a.stdout, readFileSync(join(GOLDEN, name, 'user-data'), 'utf8'));
      assert.is(a.stderr, readFileSync(join(GOLDEN, `${name}.stderr`), 'utf8'));
    }
  });
}

test.run();
