import { DiagnosticBag, type Diagnostic } from '../diagnostics/diagnostic.ts';
import type { Merged } from '../resolve/merge.ts';
import { reportAt } from '../schema/validate.ts';

/** Why a secret in user-data is a risk, in every such warning. */
const SERVED = 'a metadata service serves user-data to anything that can reach it, and cloud-init keeps a copy on the host';

/**
 * The warning of a run that writes user-data holding the stack's trust password, located at
 * server.trust_password. First boot takes the password out of the preseed file, not out of the
 * user-data that brought it.
 */
export function trustPasswordInUserData(merged: Merged): Diagnostic[] {
  const bag = new DiagnosticBag();
  reportAt(
    bag,
    merged,
    'warning',
    'SECRET_IN_USER_DATA',
    ['server', 'trust_password'],
    `the trust password rides in user-data: ${SERVED}; a trust token (\`lxc config trust add\`) given after boot leaves nothing there, or keep the metadata service behind a network fence`,
    'key',
  );
  return bag.items;
}

/** The warning of an inventory host whose join token (cluster.token) rides in its user-data. */
export function joinTokenInUserData(merged: Merged, host: string): Diagnostic[] {
  const bag = new DiagnosticBag();
  reportAt(
    bag,
    merged,
    'warning',
    'SECRET_IN_USER_DATA',
    ['hosts', host, 'cluster', 'token'],
    `the join token of ${host} rides in its user-data: ${SERVED}; cluster.token_from: {file: /path/on/host} or {command: "..."} fetches it at first boot instead`,
    'key',
  );
  return bag.items;
}
