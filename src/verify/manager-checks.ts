import * as z from 'zod';
import type { HostPlan } from '../plan/model.ts';
import type { ManagerAnswer, ManagerQuery } from './manager-query.ts';
import type { VerifyRow } from './verify.ts';

// The shapes of the API answers verify reads. Every config value of LXD and Incus is a string;
// `config` and `devices` may be empty (null from some versions). Fields verify does not read are
// let through. An answer of another shape is a FAIL row naming its API path, never a guess.
const Strings = z.record(z.string(), z.string());
/** /1.0 is asked to reach (and wake) the daemon: any object is an answer. */
const ServerShape = z.looseObject({});
const PoolShape = z.looseObject({ driver: z.string() });
const NetworkShape = z.looseObject({ config: Strings.nullish() });
const ProfileShape = z.looseObject({ config: Strings.nullish(), devices: z.record(z.string(), Strings).nullish() });

/** Each API path asked once: every answer is a client subprocess, and several rows read the same
 * object (the default profile, the bridge). */
export function askedOnce(query: ManagerQuery): ManagerQuery {
  const answers = new Map<string, Promise<ManagerAnswer>>();
  return (path) => {
    if (!answers.has(path)) answers.set(path, query(path));
    return answers.get(path)!;
  };
}

/** True when the answer to /1.0 shows a daemon that answers. */
export function isLive(apiRoot: ManagerAnswer): boolean {
  return apiRoot.kind === 'answer' && ServerShape.safeParse(apiRoot.value).success;
}

/** One manager setting: the API object that holds it and how to read it from a valid answer. */
interface ManagerWant<S extends z.ZodType> {
  check: string;
  wanted: string;
  path: string;
  shape: S;
  /** The value, or undefined when the object does not set it. */
  pick: (answer: z.infer<S>) => string | undefined;
}

/** Rows for the manager's storage pools, bridge and default profile, asked through `query`
 * (undefined: no live manager), given the answer to /1.0 already asked. */
export async function verifyManager(
  plan: HostPlan,
  query: ManagerQuery | undefined,
  apiRoot: ManagerAnswer | undefined,
  rows: VerifyRow[],
): Promise<void> {
  const m = plan.manager.name;
  const client = m === 'lxd' ? 'lxc' : 'incus';
  const wants: ManagerWant<z.ZodType>[] = [];
  const want = <S extends z.ZodType>(w: ManagerWant<S>) => wants.push(w as unknown as ManagerWant<z.ZodType>);
  for (const p of plan.storagePools) {
    want({
      check: `${m} storage pool ${p.name}`,
      wanted: p.driver,
      path: `/1.0/storage-pools/${p.name}`,
      shape: PoolShape,
      pick: (a) => a.driver,
    });
  }
  const network = `/1.0/networks/${plan.bridge.name}`;
  want({
    check: `${m} network ${plan.bridge.name} ipv4.address`,
    wanted: plan.bridge.ipv4,
    path: network,
    shape: NetworkShape,
    pick: (a) => a.config?.['ipv4.address'],
  });
  want({
    check: `${m} network ${plan.bridge.name} ipv6.address`,
    wanted: plan.bridge.ipv6,
    path: network,
    shape: NetworkShape,
    pick: (a) => a.config?.['ipv6.address'],
  });
  const profile = '/1.0/profiles/default';
  want({
    check: `${m} default profile eth0 network`,
    wanted: plan.bridge.name,
    path: profile,
    shape: ProfileShape,
    pick: (a) => a.devices?.['eth0']?.['network'] ?? a.devices?.['eth0']?.['parent'],
  });
  want({
    check: `${m} default profile root pool`,
    wanted: plan.instances.storagePool,
    path: profile,
    shape: ProfileShape,
    pick: (a) => a.devices?.['root']?.['pool'],
  });
  if (plan.instances.nicTxqueuelen !== undefined) {
    want({
      check: `${m} default profile eth0 queue.tx.length`,
      wanted: String(plan.instances.nicTxqueuelen),
      path: profile,
      shape: ProfileShape,
      pick: (a) => a.devices?.['eth0']?.['queue.tx.length'],
    });
  }
  if (plan.instances.idmapIsolated) {
    want({
      check: `${m} default profile security.idmap.isolated`,
      wanted: 'true',
      path: profile,
      shape: ProfileShape,
      pick: (a) => a.config?.['security.idmap.isolated'],
    });
  }
  // No client (or --root): nothing to ask, reported. A client whose daemon does not answer: failed.
  const down =
    apiRoot === undefined || isLive(apiRoot)
      ? undefined
      : `the ${m} daemon does not answer (${client} query /1.0 ${unusable(apiRoot, ServerShape)})`;
  for (const w of wants) {
    const row = { check: w.check, wanted: w.wanted };
    if (!query) {
      rows.push({ ...row, status: 'ABSENT', actual: '-', note: 'no live manager to ask (--root, or its client is missing)' });
      continue;
    }
    if (down !== undefined) {
      rows.push({ ...row, status: 'FAIL', actual: '-', note: down });
      continue;
    }
    const answer = await query(w.path);
    // The client refuses a path whose object does not exist.
    if (answer.kind === 'refused') {
      rows.push({ ...row, status: 'FAIL', actual: 'missing' });
      continue;
    }
    const parsed = answer.kind === 'answer' ? w.shape.safeParse(answer.value) : undefined;
    if (!parsed?.success) {
      rows.push({ ...row, status: 'FAIL', actual: '-', note: `${client} query ${w.path} ${unusable(answer, w.shape)}` });
      continue;
    }
    const actual = w.pick(parsed.data) ?? 'unset';
    rows.push({ ...row, status: actual === w.wanted ? 'PASS' : 'FAIL', actual });
  }
}

/** Why an answer is not usable, completing "CLIENT query PATH ...". */
function unusable(answer: ManagerAnswer, shape: z.ZodType): string {
  if (answer.kind === 'refused') return `exited with status ${answer.status}`;
  if (answer.kind === 'broken') return answer.reason;
  const issue = shape.safeParse(answer.value).error?.issues[0];
  const where = issue !== undefined && issue.path.length > 0 ? ` at ${issue.path.map(String).join('.')}` : '';
  return `answered JSON of the wrong shape${where}${issue !== undefined ? `: ${issue.message.replace(/^Invalid input: /, '')}` : ''}`;
}
