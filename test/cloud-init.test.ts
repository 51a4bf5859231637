import { existsSync, readFileSync, writeFileSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { gen, profileArgs, run, STACKS, stackName } from './helpers.ts';
import { TARGETS } from '../src/facts/targets.ts';

/** Debian 13's cloud-init, unpacked (not installed) by test/real/install-debian-tools.sh. */
const TRIXIE_CLOUD_INIT = '/var/cache/born-tuned/cloud-init-trixie';

/** A cloud-init whose `schema` subcommand judges user-data: Debian 12's installed one, or Debian
 * 13's unpacked one run with Debian 12's python3 and modules. */
interface CloudInit {
  release: string;
  version: string;
  schemaJson: string;
  schema(file: string): ReturnType<typeof run>;
}

function debian12CloudInit(): CloudInit {
  const listed = run('dpkg', ['-L', 'cloud-init']);
  const schemaJson = listed.stdout.split('\n').find((l) => l.endsWith('/schemas/schema-cloud-config-v1.json'));
  assert.ok(schemaJson, 'cloud-init is not installed: the test command installs it (test/real/install-debian-tools.sh)');
  const version = run('dpkg-query', ['-W', '-f=${Version}', 'cloud-init']).stdout;
  return { release: '12', version, schemaJson: schemaJson!, schema: (file) => run('cloud-init', ['schema', '--config-file', file]) };
}

function debian13CloudInit(): CloudInit {
  const lib = join(TRIXIE_CLOUD_INIT, 'usr/lib/python3/dist-packages');
  const schemaJson = join(lib, 'cloudinit/config/schemas/schema-cloud-config-v1.json');
  assert.ok(
    existsSync(schemaJson),
    `Debian 13's cloud-init is not unpacked in ${TRIXIE_CLOUD_INIT}: the test command does it (test/real/install-debian-tools.sh)`,
  );
  const version = readFileSync(join(TRIXIE_CLOUD_INIT, 'VERSION'), 'utf8').trim();
  return {
    release: '13',
    version,
    schemaJson,
    schema: (file) =>
      run('/usr/bin/python3', [join(TRIXIE_CLOUD_INIT, 'usr/bin/cloud-init'), 'schema', '--config-file', file], {
        env: { ...process.env, PYTHONPATH: lib },
      }),
  };
}

/** Top-level keys a cloud-init's own schema JSON defines (the real tool does not flag unknown
 * top-level keys, so this check stands beside it). */
function cloudInitTopLevelKeys(schemaJson: string): Set<string> {
  const schema = JSON.parse(readFileSync(schemaJson, 'utf8')) as {
    allOf: { $ref: string }[];
    $defs: Record<string, { properties?: Record<string, unknown> }>;
  };
  const keys = new Set<string>();
  for (const { $ref } of schema.allOf) {
    const def = schema.$defs[$ref.replace('#/$defs/', '')];
    for (const k of Object.keys(def?.properties ?? {})) keys.add(k);
  }
  assert.ok(keys.size > 50, 'schema JSON yielded too few top-level keys: its layout changed');
  return keys;
}

const dir = mkdtempSync(join(tmpdir(), 'born-tuned-ci-'));
const cloudInits = [debian12CloudInit(), debian13CloudInit()];

test("each Debian release's cloud-init has the version the targets table names", () => {
  for (const ci of cloudInits) {
    const want = TARGETS[`debian/${ci.release}`]!.versions!.cloudInit;
    assert.ok(ci.version.startsWith(`${want}.`), `Debian ${ci.release}: cloud-init ${ci.version}, the targets table says ${want}`);
  }
});

// Each shipped stack on each release (the shipped host profiles target Debian 13; the e2e overlay
// debian-12 moves one to Debian 12), judged by that release's cloud-init: valid, and no deprecation.
for (const ci of cloudInits) {
  const knownKeys = cloudInitTopLevelKeys(ci.schemaJson);
  for (const stack of STACKS) {
    const args =
      ci.release === '12' ? [...profileArgs(stack), '--profiles-dir', 'test/e2e/profiles', '--profile', 'debian-12'] : profileArgs(stack);
    test(`Debian ${ci.release}'s cloud-init ${ci.version} accepts the user-data of ${stackName(stack)} on Debian ${ci.release}`, () => {
      const r = gen(args);
      assert.is(r.status, 0, r.stderr);
      const file = join(dir, `${stackName(stack)}-${ci.release}.yaml`);
      writeFileSync(file, r.stdout);
      const check = ci.schema(file);
      assert.is(check.status, 0, `cloud-init schema failed:\n${check.stdout}${check.stderr}`);
      assert.match(check.stdout, /Valid schema|Valid cloud-config/);
      assert.not.match(check.stdout + check.stderr, /deprecat/i, 'cloud-init reports a deprecated key');
      const top = Object.keys(parse(r.stdout) as object);
      for (const key of top) assert.ok(knownKeys.has(key), `top-level key "${key}" is not in cloud-init's schema`);
    });
  }

  test(`Debian ${ci.release}'s cloud-init schema check can fail: an unknown module key is rejected`, () => {
    const file = join(dir, 'bad.yaml');
    writeFileSync(file, '#cloud-config\nwrite_files:\n  - path: /x\n    permisions: "0644"\n');
    assert.is.not(ci.schema(file).status, 0);
  });

  test(`Debian ${ci.release}'s cloud-init schema check reports a deprecated key (what the stacks are held to)`, () => {
    const file = join(dir, 'deprecated.yaml');
    writeFileSync(file, '#cloud-config\napt_upgrade: true\n');
    const check = ci.schema(file);
    assert.match(check.stdout + check.stderr, /deprecat/i);
  });
}

test.run();
