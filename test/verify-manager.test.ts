import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { generate } from '../src/pipeline.ts';
import { liveManagerQuery, type ManagerClientOptions, type ManagerQuery } from '../src/verify/manager-query.ts';
import { summarize, verifyHost, type VerifyRow } from '../src/verify/verify.ts';
import { goodHost } from './host-tree.ts';

/**
 * verify asks the live manager through its client (`incus query PATH`). Whatever the client does —
 * hang, leave a child holding its stdout, escape its process group, print megabytes or JSON of the
 * wrong types, crash — verify ends with a clear row, and nothing the client started is left running.
 * The clients here are real programs: small shell scripts.
 */
const scratch = mkdtempSync(join(tmpdir(), 'born-tuned-verify-manager-'));
const STACK = ['incus-dense', '10gbe'];
const generated = generate({ profiles: STACK }, { packer: false, secrets: 'resolve' });
const plan = generated.stack.plan;
const root = goodHost(scratch, STACK);

/** What a healthy Incus answers for each path verify asks. */
const HEALTHY: Record<string, unknown> = {
  '/1.0': { api_version: '1.0', environment: { server: 'incus' } },
  '/1.0/storage-pools/default': { name: 'default', driver: 'btrfs' },
  '/1.0/networks/incusbr0': { config: { 'ipv4.address': '10.64.0.1/20', 'ipv6.address': 'none' } },
  '/1.0/profiles/default': {
    config: { 'security.idmap.isolated': 'true' },
    devices: { eth0: { network: 'incusbr0', 'queue.tx.length': '10000' }, root: { pool: 'default' } },
  },
};
const MANAGER_CHECKS = [
  'incus storage pool default',
  'incus network incusbr0 ipv4.address',
  'incus network incusbr0 ipv6.address',
  'incus default profile eth0 network',
  'incus default profile root pool',
  'incus default profile eth0 queue.tx.length',
  'incus default profile security.idmap.isolated',
];
const ROWS_OF: Record<string, string[]> = {
  '/1.0/storage-pools/default': MANAGER_CHECKS.slice(0, 1),
  '/1.0/networks/incusbr0': MANAGER_CHECKS.slice(1, 3),
  '/1.0/profiles/default': MANAGER_CHECKS.slice(3),
};

let scripts = 0;
/**
 * A fake client: a shell script that answers each path as `answers` says (a shell snippet; a path
 * not listed prints the healthy answer), so `$2` is the API path as for `incus query PATH`.
 */
function client(answers: Record<string, string> = {}, prelude = ''): string {
  const file = join(scratch, `client-${++scripts}`);
  const arms = Object.keys(HEALTHY).map((p) => `  ${p}) ${answers[p] ?? `printf '%s\\n' '${JSON.stringify(HEALTHY[p])}'`} ;;`);
  writeFileSync(file, `#!/bin/sh\n${prelude}\ncase "$2" in\n${arms.join('\n')}\n  *) echo "Error: not found" >&2; exit 1 ;;\nesac\n`, {
    mode: 0o755,
  });
  return file;
}

/** The manager's rows of a verify on the good host with the fake client. */
async function managerRows(options: ManagerClientOptions): Promise<VerifyRow[]> {
  const query = liveManagerQuery(plan, options);
  assert.ok(query);
  const rows = await verifyHost(generated, { root, query });
  // The rest of the host is good: only the manager's rows can fail.
  assert.equal(
    rows.filter((r) => r.status === 'FAIL' && !MANAGER_CHECKS.includes(r.check)).map((r) => r.check),
    [],
  );
  return rows.filter((r) => MANAGER_CHECKS.includes(r.check));
}

/** Time limits for the fake clients that hang: short, so the suite does not wait. */
const SHORT = { firstTimeoutMs: 300, timeoutMs: 200 };

/** A pid written by a fake client. */
function pidIn(file: string): number {
  return Number(readFileSync(file, 'utf8').trim());
}

/** Waits (as a guard, not a timing assertion) until process `pid` is gone or a zombie. */
async function gone(pid: number): Promise<boolean> {
  for (let i = 0; i < 200; i++) {
    const stat = existsSync(`/proc/${pid}/stat`) ? readFileSync(`/proc/${pid}/stat`, 'utf8') : '';
    if (stat === '' || /^\d+ \(.*\) Z /.test(stat)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return false;
}

test('a healthy client: every manager row passes, through a real subprocess', async () => {
  const rows = await managerRows({ client: client() });
  assert.equal(
    rows.map((r) => [r.check, r.status]),
    MANAGER_CHECKS.map((c) => [c, 'PASS']),
  );
});

test('a client that hangs is killed with its whole process group at the timeout; the rows say so', async () => {
  const child = join(scratch, 'hang-child.pid');
  const self = join(scratch, 'hang-self.pid');
  const hang = client({}, `echo $$ > ${self}\nsleep 1000 &\necho $! > ${child}\nwait`);
  const rows = await managerRows({ client: hang, ...SHORT });
  assert.equal(
    rows.map((r) => [r.status, r.note]),
    MANAGER_CHECKS.map(() => ['FAIL', 'the incus daemon does not answer (incus query /1.0 did not answer within 0.3 s)']),
  );
  assert.ok(await gone(pidIn(self)), 'the client is still running');
  assert.ok(await gone(pidIn(child)), "the client's child is still running");
});

test('after one query timed out the client is not run again', async () => {
  const hang = client({ '/1.0/networks/incusbr0': 'sleep 1000' });
  const rows = await managerRows({ client: hang, ...SHORT });
  const byCheck = Object.fromEntries(rows.map((r) => [r.check, `${r.status} ${r.note ?? ''}`]));
  assert.is(byCheck['incus storage pool default'], 'PASS ');
  for (const c of ROWS_OF['/1.0/networks/incusbr0']!)
    assert.is(byCheck[c], 'FAIL incus query /1.0/networks/incusbr0 did not answer within 0.2 s');
  for (const c of ROWS_OF['/1.0/profiles/default']!)
    assert.is(byCheck[c], 'FAIL incus query /1.0/profiles/default was not run: an earlier query was stopped after 0.2 s');
});

test('a client that exits leaving a child holding its stdout: the answer is used and the child killed', async () => {
  const child = join(scratch, 'holder.pid');
  // A long timeout: were the leftover child waited for, every row would end in "left a process...".
  const holder = client({}, `sleep 1000 &\necho $! > ${child}`);
  const rows = await managerRows({ client: holder, firstTimeoutMs: 60_000, timeoutMs: 60_000 });
  assert.equal(
    rows.map((r) => [r.check, r.status]),
    MANAGER_CHECKS.map((c) => [c, 'PASS']),
  );
  assert.ok(await gone(pidIn(child)), 'the leftover child is still running');
});

test('a client whose child escapes its process group and holds stdout: a clear row at the timeout', async () => {
  const marker = join(scratch, 'escaped');
  // The child starts a session of its own (out of the client's group) before the client exits.
  const escaper = client(
    {},
    `m=${marker}.$$\nsetsid sh -c 'echo $$ > "$1"; exec sleep 1000' sh "$m" &\nwhile [ ! -s "$m" ]; do sleep 0.01; done`,
  );
  try {
    const rows = await managerRows({ client: escaper, ...SHORT });
    assert.equal(
      rows.map((r) => [r.status, r.note]),
      MANAGER_CHECKS.map(() => [
        'FAIL',
        'the incus daemon does not answer (incus query /1.0 exited, but left a process holding its output open for 0.3 s)',
      ]),
    );
  } finally {
    // Out of the group, so out of verify's reach: the test ends the processes its scripts started.
    for (const f of readdirSync(scratch).filter((n) => n.startsWith('escaped.'))) process.kill(pidIn(join(scratch, f)), 'SIGKILL');
  }
});

const wrong: [string, Record<string, string>, string, RegExp][] = [
  [
    'a number for a string',
    { '/1.0/storage-pools/default': `echo '{"driver": 5}'` },
    '/1.0/storage-pools/default',
    /^incus query \/1\.0\/storage-pools\/default answered JSON of the wrong shape at driver: expected string, received number$/,
  ],
  [
    'an array for an object',
    { '/1.0/storage-pools/default': `echo '[{"driver": "dir"}]'` },
    '/1.0/storage-pools/default',
    /answered JSON of the wrong shape: expected object, received array$/,
  ],
  [
    'null',
    { '/1.0/networks/incusbr0': 'echo null' },
    '/1.0/networks/incusbr0',
    /^incus query \/1\.0\/networks\/incusbr0 answered JSON of the wrong shape: expected object, received null$/,
  ],
  [
    'a string for a map',
    { '/1.0/networks/incusbr0': `echo '{"config": "ipv4.address=10.64.0.1/20"}'` },
    '/1.0/networks/incusbr0',
    /wrong shape at config: expected record, received string$/,
  ],
  [
    'a number for a device',
    { '/1.0/profiles/default': `echo '{"devices": {"eth0": 5}}'` },
    '/1.0/profiles/default',
    /wrong shape at devices\.eth0: expected record, received number$/,
  ],
  [
    'a boolean for a config value',
    { '/1.0/profiles/default': `echo '{"config": {"security.idmap.isolated": true}}'` },
    '/1.0/profiles/default',
    /wrong shape at config\.security\.idmap\.isolated: expected string, received boolean$/,
  ],
  [
    'text that is not JSON',
    { '/1.0/storage-pools/default': 'echo driver: dir' },
    '/1.0/storage-pools/default',
    /^incus query \/1\.0\/storage-pools\/default answered something that is not JSON$/,
  ],
  ['nothing', { '/1.0/storage-pools/default': 'true' }, '/1.0/storage-pools/default', /answered nothing$/],
  [
    'endless output',
    { '/1.0/profiles/default': `yes '{"config": {}}'` },
    '/1.0/profiles/default',
    /^incus query \/1\.0\/profiles\/default answered more than 1048576 bytes$/,
  ],
  [
    'a crash',
    { '/1.0/networks/incusbr0': 'kill -9 $$' },
    '/1.0/networks/incusbr0',
    /^incus query \/1\.0\/networks\/incusbr0 was killed by SIGKILL$/,
  ],
];

for (const [name, answers, path, note] of wrong) {
  test(`a client answering ${name}: FAIL rows naming the API path, the other rows as they are`, async () => {
    const rows = await managerRows({ client: client(answers), firstTimeoutMs: 30_000, timeoutMs: 30_000 });
    for (const r of rows) {
      if (!ROWS_OF[path]!.includes(r.check)) {
        assert.is(r.status, 'PASS', r.check);
        continue;
      }
      assert.equal([r.status, r.actual], ['FAIL', '-'], r.check);
      assert.match(r.note ?? '', note);
    }
    assert.ok(summarize(rows).fail > 0);
  });
}

test('a client that refuses a path (the object does not exist): FAIL, actual missing', async () => {
  const rows = await managerRows({ client: client({ '/1.0/storage-pools/default': 'echo "Error: Storage pool not found" >&2; exit 1' }) });
  assert.equal(
    rows.filter((r) => r.status !== 'PASS').map((r) => [r.check, r.status, r.actual, r.note]),
    [['incus storage pool default', 'FAIL', 'missing', undefined]],
  );
});

test('/1.0 answered wrongly, refused, or a client that cannot run: every manager row FAIL, saying why', async () => {
  const cases: [ManagerClientOptions, string][] = [
    [
      { client: client({ '/1.0': 'echo "[1, 2]"' }) },
      'the incus daemon does not answer (incus query /1.0 answered JSON of the wrong shape: expected object, received array)',
    ],
    [
      { client: client({ '/1.0': 'echo "Error: connect: permission denied" >&2; exit 1' }) },
      'the incus daemon does not answer (incus query /1.0 exited with status 1)',
    ],
    [{ client: join(scratch, 'no-such-client') }, 'the incus daemon does not answer (incus query /1.0 could not be run (ENOENT))'],
  ];
  const notExecutable = join(scratch, 'not-executable');
  writeFileSync(notExecutable, '#!/bin/sh\n');
  chmodSync(notExecutable, 0o644);
  cases.push([{ client: notExecutable }, 'the incus daemon does not answer (incus query /1.0 could not be run (EACCES))']);
  for (const [options, note] of cases) {
    const rows = await managerRows(options);
    assert.equal(
      rows.map((r) => [r.status, r.note]),
      MANAGER_CHECKS.map(() => ['FAIL', note]),
      String(options.client),
    );
  }
});

test('a __proto__ key in an answer is data: it never supplies a device or a value', async () => {
  const sneaky = `echo '{"config": {"__proto__": {"security.idmap.isolated": "true"}}, "devices": {"__proto__": {"eth0": {"network": "incusbr0", "queue.tx.length": "10000"}, "root": {"pool": "default"}}}}'`;
  const rows = await managerRows({ client: client({ '/1.0/profiles/default': sneaky }) });
  for (const c of ROWS_OF['/1.0/profiles/default']!) assert.is(rows.find((r) => r.check === c)!.status, 'FAIL', c);
});

test('property: any JSON value as any answer ends in well-formed rows; a wrong shape is a FAIL naming its path', async () => {
  const paths = Object.keys(HEALTHY);
  await fc.assert(
    fc.asyncProperty(fc.dictionary(fc.constantFrom(...paths), fc.jsonValue()), async (answers) => {
      const api = { ...HEALTHY, ...answers };
      const query: ManagerQuery = async (p) => (p in api ? { kind: 'answer', value: api[p] } : { kind: 'refused', status: 1 });
      const rows = await verifyHost(generated, { root, query });
      for (const r of rows) {
        assert.ok(['PASS', 'FAIL', 'ABSENT'].includes(r.status));
        for (const field of [r.check, r.wanted, r.actual, r.note ?? '']) assert.type(field, 'string');
      }
      const isObject = (v: unknown) => typeof v === 'object' && v !== null && !Array.isArray(v);
      if (!isObject(api['/1.0'])) {
        assert.ok(
          rows
            .filter((r) => MANAGER_CHECKS.includes(r.check))
            .every(
              (r) =>
                r.status === 'FAIL' &&
                r.note!.startsWith('the incus daemon does not answer (incus query /1.0 answered JSON of the wrong shape'),
            ),
        );
        return;
      }
      for (const [path, checks] of Object.entries(ROWS_OF)) {
        if (isObject(api[path])) continue;
        for (const c of checks)
          assert.match(rows.find((r) => r.check === c)!.note ?? '', `incus query ${path} answered JSON of the wrong shape`);
      }
    }),
    { numRuns: 300 },
  );
});

test.after(() => rmSync(scratch, { recursive: true, force: true }));

test.run();
