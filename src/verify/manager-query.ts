import { childProcess } from '../builtins.ts';
import { existsSync } from 'node:fs';
import type { HostPlan } from '../plan/model.ts';
import type { ManagerQuery } from './verify.ts';

/** The live manager's REST API through its own client (`lxc query` / `incus query`), or undefined
 * when the client is not installed. A failed query (object missing) answers undefined. */
export function liveManagerQuery(plan: HostPlan): ManagerQuery | undefined {
  const candidates = plan.manager.name === 'lxd' ? ['/snap/bin/lxc', '/usr/bin/lxc'] : ['/usr/bin/incus'];
  const client = candidates.find((c) => existsSync(c));
  if (!client) return undefined;
  return (path: string) => {
    const r = childProcess().spawnSync(client, ['query', path], { encoding: 'utf8', timeout: 60_000 });
    if (r.status !== 0 || r.stdout.trim() === '') return undefined;
    try {
      return JSON.parse(r.stdout) as unknown;
    } catch {
      return undefined;
    }
  };
}
