import { chmodSync, mkdirSync, mkdtempSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { generate } from '../src/pipeline.ts';
import { procSysPath } from '../src/facts/sysctl-names.ts';
import { scrubPreseed } from '../src/facts/preseed-secrets.ts';
import { HOST_PATHS } from '../src/facts/host-paths.ts';

const generatedStacks = new Map<string, ReturnType<typeof generate>>();

/**
 * Builds, in a new directory under `parent`, a host tree as the profiles promise it (what
 * `gen verify --root` passes on): the installed files, /proc/sys and the sysctl.d file first boot
 * computed from it, the fence's unit enabled, the daemon's /proc/4242 (comm and
 * limits), the NICs' tx_queue_len, /sys/kernel/slab. Profiles are read from `profilesDir` when given. Returns its path.
 */
export function goodHost(parent: string, profiles: string[], profilesDir?: string): string {
  const root = mkdtempSync(join(parent, 'host-'));
  const put = (path: string, text: string, mode = 0o644) => {
    mkdirSync(dirname(join(root, path)), { recursive: true });
    writeFileSync(join(root, path), text);
    chmodSync(join(root, path), mode);
  };
  const key = `${profilesDir ?? ''}:${profiles.join('+')}`;
  const generated = generatedStacks.get(key) ?? generate({ profiles, profilesDir }, { packer: false, secrets: 'resolve' });
  generatedStacks.set(key, generated);
  for (const a of generated.artifacts) if (a.hostPath) put(a.hostPath, a.text, a.mode);
  // First boot applied the preseed and took its secrets out (born-tuned-preseed).
  put('/etc/born-tuned/preseed.yaml', scrubPreseed(generated.artifacts.find((a) => a.kind === 'preseed')!.text), 0o600);
  // The fence's unit enabled, as `systemctl enable` leaves it.
  if (generated.stack.plan.fence.enabled) {
    mkdirSync(dirname(join(root, HOST_PATHS.fenceEnabled)), { recursive: true });
    symlinkSync(HOST_PATHS.fenceUnit, join(root, HOST_PATHS.fenceEnabled));
  }
  // The kernel after first boot on a 16 GiB host: each wanted value, a higher max_map_count
  // (raise keeps it), tcp_mem as the kernel sized it, and a value read from the host (10gbe's
  // backlog) taken from it; the sysctl.d file holds what the apply step computed.
  const live = new Map<string, string>([['net.ipv4.tcp_mem', '190194 253595 380388']]);
  for (const s of generated.stack.plan.sysctl) if (!s.fromHost) live.set(s.key, s.value);
  live.set('vm.max_map_count', '1048576');
  for (const s of generated.stack.plan.sysctl) if (s.fromHost) live.set(s.key, live.get(s.fromHost.key)!.split(' ')[s.fromHost.word - 1]!);
  for (const [key, value] of live) put(procSysPath(key), `${value.replace(/ /g, '\t')}\n`);
  put(
    '/etc/sysctl.d/60-born-tuned.conf',
    `# Written by born-tuned-sysctl-apply\n${generated.stack.plan.sysctl.map((s) => `${s.key} = ${live.get(s.key)}\n`).join('')}`,
  );
  put('/proc/4242/comm', `${generated.stack.plan.manager.name === 'lxd' ? 'lxd' : 'incusd'}\n`);
  put(
    '/proc/4242/limits',
    'Limit                     Soft Limit           Hard Limit           Units\nMax open files            1048576              1048576              files\nMax locked memory         unlimited            unlimited            bytes\n',
  );
  for (const [dev, txq] of [
    ['enp5s0', '10000'],
    ['incusbr0', '10000'],
    ['lxdbr0', '10000'],
    ['lo', '1000'],
  ])
    put(`/sys/class/net/${dev}/tx_queue_len`, `${txq}\n`);
  // Modules loaded at boot, and root's ranges as first boot's subids step leaves them (Debian's
  // lxd package pairs an _lxd range with root's).
  for (const m of generated.stack.plan.modules) mkdirSync(join(root, 'sys/module', m.name), { recursive: true });
  const ids = generated.stack.plan.subordinateIds?.ids;
  if (ids !== undefined) for (const f of ['/etc/subuid', '/etc/subgid']) put(f, `_lxd:100000:${ids}\nroot:100000:${ids}\n`);
  mkdirSync(join(root, 'sys/kernel/slab'), { recursive: true });
  chmodSync(join(root, 'sys/kernel/slab'), 0o700);
  return root;
}
