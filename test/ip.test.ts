import { spawnSync } from 'node:child_process';
import fc from 'fast-check';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import {
  contains,
  formatIp,
  hostAddresses,
  lastOf,
  networkOf,
  notAHostAddress,
  overlaps,
  parseInterface,
  parseIp,
} from '../src/schema/ip.ts';

/**
 * The subnet arithmetic behind the network checks, judged by a real implementation: Python's
 * ipaddress module (the system python3), asked once for a whole batch. Addresses are generated as
 * numbers and written in every spelling people use (IPv6 upper case, leading zeros, :: anywhere it
 * fits, an embedded IPv4 tail).
 */
const v4 = fc
  .tuple(fc.array(fc.integer({ min: 0, max: 255 }), { minLength: 4, maxLength: 4 }), fc.integer({ min: 0, max: 32 }))
  .map(([o, p]) => `${o.join('.')}/${p}`);
const group = fc.integer({ min: 0, max: 0xffff });
const v6 = fc
  .tuple(
    fc.array(fc.oneof(group, fc.constant(0)), { minLength: 8, maxLength: 8 }),
    fc.integer({ min: 0, max: 128 }),
    fc.constantFrom('plain', 'upper', 'padded', 'compressed', 'v4tail'),
  )
  .map(([g, p, style]) => {
    const hex = g.map((x) => x.toString(16));
    let text: string;
    if (style === 'upper') text = hex.join(':').toUpperCase();
    else if (style === 'padded') text = hex.map((h) => h.padStart(4, '0')).join(':');
    else if (style === 'v4tail') text = `${hex.slice(0, 6).join(':')}:${g[6]! >> 8}.${g[6]! & 255}.${g[7]! >> 8}.${g[7]! & 255}`;
    else if (style === 'compressed') {
      const zero = g.findIndex((x) => x === 0);
      text =
        zero < 0
          ? hex.join(':')
          : `${hex.slice(0, zero).join(':')}::${hex.slice(zero + 1).join(':')}`.replace(/^:(?!:)/, '').replace(/(?<!:):$/, '');
      // Only a zero group may be elided; "::" standing for one group is valid.
    } else text = hex.join(':');
    return `${text}/${p}`;
  });

test('parsing, canonical form, network, last address, host capacity and containment agree with Python ipaddress', () => {
  const samples = [...fc.sample(v4, 600), ...fc.sample(v6, 600)].filter((s) => parseInterface(s) !== undefined);
  assert.ok(samples.length > 1000, `only ${samples.length} parsed`);
  const script = `
import ipaddress, json, sys
out = []
for s in json.load(sys.stdin):
    i = ipaddress.ip_interface(s)
    out.append([str(i.ip), str(i.network.network_address), str(i.network.broadcast_address), i.network.num_addresses])
json.dump(out, sys.stdout)
`;
  const r = spawnSync('/usr/bin/python3', ['-c', script], { input: JSON.stringify(samples), encoding: 'utf8', maxBuffer: 1 << 26 });
  assert.is(r.status, 0, r.stderr);
  const expected = JSON.parse(r.stdout) as [string, string, string, number][];
  samples.forEach((s, k) => {
    const i = parseInterface(s)!;
    const [ip, network, last, size] = expected[k]!;
    // Python writes an IPv4-mapped address as ::ffff:a.b.c.d; we write every IPv6 address in hex.
    const canon = (t: string) => formatIp(parseIp(t)!);
    assert.is(formatIp(i), canon(ip), `${s}: address`);
    assert.is(formatIp({ family: i.family, value: networkOf(i) }), canon(network), `${s}: network`);
    assert.is(formatIp({ family: i.family, value: lastOf(i) }), canon(last), `${s}: last`);
    const expectHosts = i.family === 4 && size > 2 ? size - 2 : size;
    assert.is(hostAddresses(i), BigInt(expectHosts), `${s}: host addresses`);
    assert.ok(contains(i, i), `${s} contains itself`);
    assert.ok(overlaps(i, i));
  });
});

test('the canonical IPv6 spelling is RFC 5952 (what Python writes)', () => {
  const samples = fc
    .sample(v6, 800)
    .map((s) => s.split('/')[0]!)
    .filter((s) => parseIp(s) !== undefined && !s.includes('.'));
  const r = spawnSync(
    '/usr/bin/python3',
    ['-c', 'import ipaddress, json, sys; json.dump([ipaddress.ip_address(s).compressed for s in json.load(sys.stdin)], sys.stdout)'],
    { input: JSON.stringify(samples), encoding: 'utf8' },
  );
  assert.is(r.status, 0, r.stderr);
  (JSON.parse(r.stdout) as string[]).forEach((want, k) => {
    // Python keeps the IPv4-mapped form for ::ffff:0:0/96; compare the numbers there.
    if (want.includes('.')) assert.is(parseIp(want)!.value, parseIp(samples[k]!)!.value);
    else assert.is(formatIp(parseIp(samples[k]!)!), want, samples[k]);
  });
});

test('what is not an address is refused', () => {
  for (const bad of [
    '256.0.0.1/24',
    '1.2.3/24',
    '01.2.3.4/8',
    ':::::/64',
    '1::2::3/64',
    '12345::/64',
    'fe80::1%eth0/64',
    '10.0.0.1/33',
    '::1/129',
    '10.0.0.1/',
    '/24',
    '10.0.0.1/024',
  ]) {
    assert.is(parseInterface(bad), undefined, bad);
  }
});

test('network and broadcast addresses are not host addresses; /31, /32 and /127, /128 have none', () => {
  assert.ok(notAHostAddress(parseInterface('10.0.0.0/24')!));
  assert.ok(notAHostAddress(parseInterface('10.0.0.255/24')!));
  assert.is(notAHostAddress(parseInterface('10.0.0.1/24')!), undefined);
  assert.is(notAHostAddress(parseInterface('10.0.0.0/31')!), undefined);
  assert.is(notAHostAddress(parseInterface('10.0.0.1/32')!), undefined);
  assert.ok(notAHostAddress(parseInterface('2001:db8::/64')!));
  assert.is(notAHostAddress(parseInterface('2001:db8::/128')!), undefined);
});

test.run();
