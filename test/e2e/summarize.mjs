// summarize.mjs RUN_DIR [STACK BOOT]
//
// What the guests of an e2e run showed, in a few lines per stack and boot, from the reports boot.sh
// keeps (RUN_DIR/STACK/report-N.json): the probe container's address and state, its eth0
// txqueuelen, DNS answered on the bridge, the metadata listener reached from the host but not from
// the container, the host's SSH port not reached, the metadata reached once the fence is removed
// (the negative control), the storage pool and its device, the bonds. With STACK and BOOT it also
// prints that boot's rows of `gen verify` and of born-tuned-verify side by side, and on boot 2 the
// drift both caught. Facts only: the judge is compare.mjs. Node builtins only.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';

const [run, oneStack, oneBoot] = process.argv.slice(2);
if (!run || !existsSync(run)) {
  console.error('usage: node test/e2e/summarize.mjs RUN_DIR [STACK BOOT]');
  process.exit(2);
}

const yesNo = (v) => (v === true ? 'yes' : v === false ? 'no' : String(v));

/** The lines of one report. */
function summarize(name, boot, r) {
  const out = [];
  const c = r.container;
  const t = r.timings_ms ?? {};
  const reportS = Math.round(Object.values(t).reduce((a, b) => a + b, 0) / 1000);
  out.push(
    `${name} boot ${boot}: report at ${Math.round(r.uptime_s)} s uptime, took ${reportS} s; verify ${r.verify?.result?.summary ? JSON.stringify(r.verify.result.summary) : `rc ${r.verify?.rc}`}`,
  );
  if (c)
    out.push(
      `   container ${c.address} ${c.status} eth0 txqueuelen ${c.eth0_txqueuelen}; dns answered ${yesNo(c.dns?.answered)}; ` +
        `metadata from host ${yesNo(c.metadata_from_host)}, from container ${yesNo(c.metadata_reached)}; ` +
        `host ssh from container ${yesNo(c.host_ssh_reached)}; metadata without the fence ${yesNo(c.metadata_reached_without_fence)}`,
    );
  else if (r.light) out.push('   light report (VM B of the identity proof): no container');
  for (const p of r.storage?.pools ?? []) {
    const src = p.config?.['volatile.initial_source'] ?? p.config?.source ?? '';
    const dev = src && r.storage.by_id?.[src];
    out.push(`   pool ${p.name} ${p.driver} ${p.status} ${src}${dev ? ` = ${dev}` : ''}`);
  }
  for (const pv of r.storage?.pvs ?? []) out.push(`   lvm pv ${pv.pv_name} vg ${pv.vg_name}`);
  for (const lv of r.storage?.lvs ?? []) out.push(`   lvm lv ${lv.lv_name} ${lv.lv_attr ?? ''} ${lv.lv_size ?? ''}`.trimEnd());
  for (const [bond, text] of Object.entries(r.uplinks?.bonding ?? {})) {
    const mode = /^Bonding Mode: (.*)$/m.exec(text)?.[1];
    const active = /^Currently Active Slave: (.*)$/m.exec(text)?.[1];
    const members = [...text.matchAll(/^Slave Interface: (\S+)\nMII Status: (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`);
    const link = r.uplinks.links?.find((l) => l.ifname === bond);
    out.push(`   bond ${bond} ${mode}, active ${active}, members ${members.join(', ')}, mtu ${link?.mtu} ${link?.operstate}`);
  }
  return out;
}

/** gen verify's and born-tuned-verify's rows of one report, side by side. */
function sideBySide(r) {
  const a = r.verify?.result?.rows ?? [];
  const b = new Map((r.self_check?.result?.rows ?? []).map((x) => [x.check, x]));
  const lines = [`${'CHECK'.padEnd(58)} ${'GEN VERIFY'.padEnd(10)} BORN-TUNED-VERIFY`];
  for (const x of a) lines.push(`${x.check.padEnd(58)} ${x.status.padEnd(10)} ${b.get(x.check)?.status ?? '(no row)'}`);
  for (const [check, x] of b) if (!a.some((y) => y.check === check)) lines.push(`${check.padEnd(58)} ${'(no row)'.padEnd(10)} ${x.status}`);
  const d = r.drift;
  if (d && !d.error) {
    const row = (v) => v?.result?.rows?.find((x) => x.check === `sysctl ${d.key}`);
    lines.push(
      `drift: ${d.key} set to ${d.set} (wanted ${d.wanted}, had ${d.had}): gen verify ${row(d.verify)?.status} (exit ${d.verify?.rc}), ` +
        `born-tuned-verify ${row(d.self_check)?.status} (exit ${d.self_check?.rc}); restored ${yesNo(d.restored)}`,
    );
  }
  return lines;
}

const stacks = readdirSync(run).filter((d) => statSync(join(run, d)).isDirectory() && d !== 'cli');
for (const s of stacks) {
  if (oneStack && s !== oneStack) continue;
  for (const boot of ['1', '2', 'B']) {
    if (oneBoot && boot !== oneBoot) continue;
    const f = join(run, s, `report-${boot}.json`);
    if (!existsSync(f)) continue;
    const r = JSON.parse(readFileSync(f, 'utf8'));
    console.log(summarize(s, boot, r).join('\n'));
    if (oneStack) console.log(sideBySide(r).join('\n'));
  }
}
