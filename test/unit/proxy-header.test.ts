// PROXY protocol header framing and validation, with the examples and limits of the HAProxy
// specification (proxy-protocol.txt, §2.1 for v1 and §2.2 for v2). The v2 bytes are built here by
// hand from the spec's layout, not with the parser's library, so a library bug cannot hide.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { parseProxyHeader, V2_SIGNATURE } from '../../src/listener/proxy-header.js';

/** v2 header: signature, ver/cmd, fam/proto, length, address block, TLVs. */
export function v2(opts: { cmd?: number; fam?: number; addr?: number[]; tlv?: number[]; version?: number }): Buffer {
  const body = [...(opts.addr ?? []), ...(opts.tlv ?? [])];
  return Buffer.from([...V2_SIGNATURE, ((opts.version ?? 2) << 4) | (opts.cmd ?? 1), opts.fam ?? 0x11, body.length >> 8, body.length & 0xff, ...body]);
}
/** TCP over IPv4: src, dst, sport, dport. */
const inet4 = (src: number[], dst: number[], sport: number, dport: number) => [...src, ...dst, sport >> 8, sport & 0xff, dport >> 8, dport & 0xff];

const cases: { name: string; input: Buffer; expected: ReturnType<typeof parseProxyHeader> }[] = [
  {
    name: 'reads a v1 TCP4 header and says how many bytes it took',
    input: Buffer.from('PROXY TCP4 192.0.2.10 10.0.0.1 56324 25\r\nEHLO x\r\n'),
    expected: { kind: 'ok', version: 1, source: { ip: '192.0.2.10', port: 56324 }, consumed: 41 },
  },
  {
    name: "accepts the spec's worst-case TCP4 line (56 bytes)",
    input: Buffer.from('PROXY TCP4 255.255.255.255 255.255.255.255 65535 65535\r\n'),
    expected: { kind: 'ok', version: 1, source: { ip: '255.255.255.255', port: 65535 }, consumed: 56 },
  },
  {
    name: "accepts the spec's worst-case TCP6 line (104 bytes)",
    input: Buffer.from('PROXY TCP6 ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'),
    expected: { kind: 'ok', version: 1, source: { ip: 'ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff', port: 65535 }, consumed: 104 },
  },
  { name: 'takes "PROXY UNKNOWN" as the real endpoints', input: Buffer.from('PROXY UNKNOWN\r\n'), expected: { kind: 'ok', version: 1, source: null, consumed: 15 } },
  {
    name: "accepts the spec's worst-case UNKNOWN line (107 bytes)",
    input: Buffer.from('PROXY UNKNOWN ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff 65535 65535\r\n'),
    expected: { kind: 'ok', version: 1, source: null, consumed: 107 },
  },
  { name: 'waits for the rest of a v1 line', input: Buffer.from('PROXY TCP4 192.0.2.10 10.0.0.1 5'), expected: { kind: 'incomplete' } },
  { name: 'waits for the rest of the word PROXY', input: Buffer.from('PRO'), expected: { kind: 'incomplete' } },
  {
    name: 'refuses a v1 line longer than 107 bytes without a CRLF',
    input: Buffer.from('PROXY TCP4 ' + '1'.repeat(120)),
    expected: { kind: 'invalid', reason: 'v1 header longer than 107 bytes' },
  },
  {
    name: 'refuses a v1 TCP4 header carrying IPv6 addresses',
    input: Buffer.from('PROXY TCP4 2001:db8::1 2001:db8::2 1000 25\r\n'),
    expected: { kind: 'invalid', reason: 'v1 addresses are not TCP4 addresses' },
  },
  {
    name: 'refuses a v1 header whose source is a host name (it would reach logs and Received)',
    input: Buffer.from('PROXY TCP4 evil.example 10.0.0.1 1000 25\r\n'),
    expected: { kind: 'invalid', reason: 'v1 addresses are not TCP4 addresses' },
  },
  { name: 'refuses a v1 port above 65535', input: Buffer.from('PROXY TCP4 192.0.2.1 10.0.0.1 65536 25\r\n'), expected: { kind: 'invalid', reason: 'v1 port out of range' } },
  { name: 'refuses a v1 line with a bare LF', input: Buffer.from('PROXY TCP4 192.0.2.1 10.0.0.1 1000 25\n'), expected: { kind: 'invalid', reason: 'v1 header not ended by CRLF' } },
  { name: 'refuses an SMTP command in place of the header', input: Buffer.from('EHLO mail.contoso.com\r\n'), expected: { kind: 'invalid', reason: 'no PROXY protocol header' } },
  {
    name: 'reads a v2 PROXY header over TCP/IPv4 and leaves the bytes after it',
    input: Buffer.concat([v2({ addr: inet4([198, 51, 100, 7], [10, 0, 0, 1], 40000, 25) }), Buffer.from('EHLO x\r\n')]),
    expected: { kind: 'ok', version: 2, source: { ip: '198.51.100.7', port: 40000 }, consumed: 28 },
  },
  {
    name: 'reads a v2 header over TCP/IPv6 into the compressed address form',
    input: v2({ fam: 0x21, addr: [0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 1, 0x20, 0x01, 0x0d, 0xb8, ...Array(11).fill(0), 2, 0x1f, 0x90, 0, 25] }),
    expected: { kind: 'ok', version: 2, source: { ip: '2001:db8::1', port: 8080 }, consumed: 52 },
  },
  {
    name: 'skips the TLVs counted in the v2 length (HAProxy sends PP2_TYPE_UNIQUE_ID and others)',
    input: v2({ addr: inet4([203, 0, 113, 9], [10, 0, 0, 1], 1234, 25), tlv: [0x05, 0x00, 0x03, 0x61, 0x62, 0x63] }),
    expected: { kind: 'ok', version: 2, source: { ip: '203.0.113.9', port: 1234 }, consumed: 34 },
  },
  { name: 'takes a v2 LOCAL header (a health check) as the real endpoints', input: v2({ cmd: 0, fam: 0 }), expected: { kind: 'ok', version: 2, source: null, consumed: 16 } },
  { name: 'waits for the whole v2 address block', input: v2({ addr: inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) }).subarray(0, 20), expected: { kind: 'incomplete' } },
  { name: 'waits for the rest of the v2 signature', input: V2_SIGNATURE.subarray(0, 7), expected: { kind: 'incomplete' } },
  { name: 'refuses a v2 header of version 3', input: v2({ version: 3, addr: inet4([1, 2, 3, 4], [5, 6, 7, 8], 1, 2) }), expected: { kind: 'invalid', reason: 'v2 header with a version other than 2' } },
  {
    name: 'refuses a v2 PROXY header whose length is shorter than its address family',
    input: v2({ addr: [1, 2, 3, 4] }),
    expected: { kind: 'invalid', reason: "malformed v2 header: given specified length is shorter than address family's length" },
  },
  {
    name: 'refuses a v2 PROXY header over a UNIX socket address (no client IP to use)',
    input: v2({ fam: 0x31, addr: Array(216).fill(0) }),
    expected: { kind: 'invalid', reason: 'v2 PROXY command over an address family other than TCP/UDP over IPv4 or IPv6' },
  },
];

for (const c of cases) {
  test(c.name, () => assert.deepEqual(parseProxyHeader(c.input), c.expected));
}
