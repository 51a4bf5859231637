#!/usr/bin/env node
// record-fixture.mjs STACK_RUN_DIR FIXTURE_DIR
//
// Records one stack of a passing boot.sh run as a fixture for compare.selftest.mjs: from
// STACK_RUN_DIR (E2E_OUT/STACK, holding tree/ and report-1.json, report-2.json) it writes into
// FIXTURE_DIR what compare.mjs reads of the tree, in the files the selftest reads:
//   limits.conf    the tree's limits.d files (treeLimits)
//   sysctl.wanted  born-tuned/sysctl.wanted (each key's mode)
//   report-N.json  the guest's reports, as recorded
//   fence.nft      the tree's fence, when the stack has one
//   capacity.json  treeCapacity(tree), when the stack asks for any
//   network.yaml, preseed.yaml  the netplan file and the preseed, when the stack has a netplan file
//   report-B.json, removed-identity.txt  a Packer stack's VM B and the build's removed certificate
// The directory is emptied first, so a fixture never mixes two runs. Exit 2 on bad usage or a run
// without both reports.
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { treeCapacity, treeLimits } from './compare.mjs';

const [run, fixture] = process.argv.slice(2);
if (!run || !fixture) {
  process.stderr.write('usage: record-fixture.mjs STACK_RUN_DIR FIXTURE_DIR\n');
  process.exit(2);
}
const tree = join(run, 'tree');
const reports = ['report-1.json', 'report-2.json'];
for (const f of [tree, ...reports.map((r) => join(run, r))]) {
  if (!existsSync(f)) {
    process.stderr.write(`record-fixture.mjs: ${f} does not exist: record a run whose two boots reported\n`);
    process.exit(2);
  }
}
rmSync(fixture, { recursive: true, force: true });
mkdirSync(fixture, { recursive: true });
writeFileSync(join(fixture, 'limits.conf'), treeLimits(tree));
copyFileSync(join(tree, 'born-tuned', 'sysctl.wanted'), join(fixture, 'sysctl.wanted'));
for (const r of reports) copyFileSync(join(run, r), join(fixture, r));
// A Packer stack's run also has VM B's report and the line naming the build VM's certificate.
for (const f of ['report-B.json', 'removed-identity.txt']) if (existsSync(join(run, f))) copyFileSync(join(run, f), join(fixture, f));
if (existsSync(join(tree, 'born-tuned', 'fence.nft'))) copyFileSync(join(tree, 'born-tuned', 'fence.nft'), join(fixture, 'fence.nft'));
const capacity = treeCapacity(tree);
if (capacity !== undefined) writeFileSync(join(fixture, 'capacity.json'), `${JSON.stringify(capacity, null, 1)}\n`);
const netplan = join(tree, 'network', '60-born-tuned.yaml');
if (existsSync(netplan)) {
  copyFileSync(netplan, join(fixture, 'network.yaml'));
  const dir = join(tree, 'preseed');
  const preseeds = readdirSync(dir)
    .filter((n) => n.endsWith('.yaml'))
    .sort();
  writeFileSync(join(fixture, 'preseed.yaml'), preseeds.map((n) => readFileSync(join(dir, n), 'utf8')).join('\n'));
}
process.stdout.write(`recorded ${run} in ${fixture}\n`);
