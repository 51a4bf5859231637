import { createHash } from 'node:crypto';
import { JSON_FORMAT_VERSION } from '../diagnostics/format.ts';
import { HOST_PATHS } from '../facts/host-paths.ts';
import type { HostPlan } from '../plan/model.ts';
import { managerClients } from '../facts/managers.ts';
import { hostChecks, installedFiles } from '../plan/checks.ts';
import { octalMode, type Artifact } from './artifact.ts';
import { renderTemplate } from './engine.ts';

const SELF_MODE = 0o755;

/** The line of the verifier that holds its own hash: emptied when the hash is computed. */
const selfLine = (sha: string) => `self_sha256='${sha}'`;

/**
 * born-tuned-verify, the verifier installed on the host: the checks of `gen verify` (checks.ts, the
 * same list) as a POSIX sh script, with each installed file's SHA-256. `hostFiles` are the other
 * host files, `preseed` the stack's preseed; the verifier's own row hashes its text with the line
 * that holds that hash emptied (a file cannot hold its own hash).
 */
export function renderSelfCheck(plan: HostPlan, header: string, hostFiles: readonly Artifact[], preseed: Artifact): Artifact {
  const self = { path: HOST_PATHS.selfCheck, text: '', mode: SELF_MODE };
  const checks = hostChecks(plan, [...installedFiles(hostFiles, preseed.text), self]);
  const sha256 = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');
  const data = {
    header,
    computedPath: HOST_PATHS.sysctl,
    selfPath: HOST_PATHS.selfCheck,
    jsonVersion: String(JSON_FORMAT_VERSION),
    stack: plan.stack,
    clients: managerClients(plan.manager.name),
    sysctl: checks.sysctl.map((s) => ({
      mode: s.mode,
      key: s.key,
      value: s.value,
      fromKey: s.fromHost?.key ?? '',
      fromWord: s.fromHost ? String(s.fromHost.word) : '',
    })),
    daemon: checks.daemon,
    txqueuelen: checks.txqueuelen.map((t) => ({
      label: t.label,
      kind: t.kind,
      matchKind: 'mac' in t.match ? 'mac' : 'name',
      match: 'mac' in t.match ? t.match.mac : t.match.name,
      wanted: t.wanted,
    })),
    hidden: checks.hidden.map((h) => ({ path: h.path, mode: h.mode, type: h.directory ? 'directory' : 'file' })),
    // The verifier's own hash is filled in below; its row is told apart by its path.
    files: checks.files.map((f) => ({ path: f.path, mode: octalMode(f.mode), sha256: f === self ? '' : sha256(f.text) })),
    modules: checks.modules,
    subids: checks.subids.map((c) => ({ path: c.path, ids: String(c.ids) })),
    fence: checks.fence ?? null,
  };
  const blank = renderTemplate('born-tuned-verify.sh', { ...data, selfSha256: '' });
  const text = blank.replace(`\n${selfLine('')}\n`, () => `\n${selfLine(sha256(blank))}\n`);
  return {
    kind: 'self-check',
    path: `bin/${HOST_PATHS.selfCheck.slice(HOST_PATHS.selfCheck.lastIndexOf('/') + 1)}`,
    hostPath: HOST_PATHS.selfCheck,
    mode: SELF_MODE,
    purpose:
      "checks the host against its profile without Node: the rows of gen verify but the manager's, as text, JSON or Prometheus metrics",
    text,
    format: 'text',
  };
}
