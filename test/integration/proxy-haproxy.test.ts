// The README's HAProxy example for real: Debian's haproxy with send-proxy-v2 in front of Sluice,
// swaks connecting to HAProxy from chosen loopback addresses. The client's own address decides
// the inbound connector, Received names client and balancer, and HAProxy's SMTP health check
// (sent through a PROXY header) finds the backend up.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet, type CertSet } from '../helpers/certs.js';
import { arrivedFor, startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import type { SluiceProcess } from '../helpers/sluice.js';
import { startBehindProxy } from '../helpers/proxy-config.js';
import { startHaProxy, type HaProxy } from '../helpers/haproxy.js';
import { replies, swaks } from '../helpers/clients.js';

const HEALTH_TIMEOUT_MS = 15_000;
const POLL_MS = 100;

/** HAProxy refuses clients while it holds the backend down: wait for its first good check. */
async function backendUp(): Promise<string> {
  const deadline = Date.now() + HEALTH_TIMEOUT_MS;
  let status = '';
  while (Date.now() < deadline && !(status = await haproxy.serverStatus()).startsWith('UP')) await new Promise((r) => setTimeout(r, POLL_MS));
  return status;
}

let certs: CertSet;
let internet: SmartHost;
let sluice: SluiceProcess;
let haproxy: HaProxy;

before(async () => {
  certs = await makeCertSet();
  internet = await startSmartHost();
  sluice = await startBehindProxy(certs, ['127.0.0.1'], {
    inboundConnectors: [{ name: 'On-prem', connectorType: 'OnPremises', senderIPAddresses: ['127.0.0.9'] }],
    outboundConnectors: [{ name: 'To internet', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] }],
  });
  haproxy = await startHaProxy({ dir: sluice.dir, backendPort: sluice.port });
});

after(async () => {
  await haproxy?.stop();
  await sluice?.stop();
  await internet?.close();
});

test("HAProxy's SMTP health check through the PROXY header finds Sluice up", async () => {
  assert.match(await backendUp(), /^UP/);
});

test('the on-prem server relays through HAProxy and Received names it and the balancer', async () => {
  assert.match(await backendUp(), /^UP/);
  const r = await swaks(['--server', `127.0.0.1:${haproxy.port}`, '--local-interface', '127.0.0.9', '--helo', 'mail.contoso.com', '--from', 'john@contoso.com', '--to', 'sun@fabrikam.com']);
  assert.ok(replies(r).some((l) => /^250 2\.6\.0 /.test(l)), r.output);
  const got = await arrivedFor(internet, 'sun@fabrikam.com');
  assert.match(got.raw.toString('latin1'), /^Received: from mail\.contoso\.com \(\[127\.0\.0\.9\]\)\r\n\t\(via PROXY protocol from \[127\.0\.0\.1\]\)\r\n[^]*inbound connector "On-prem" by ip/);
});

test('another address through HAProxy may not relay', async () => {
  assert.match(await backendUp(), /^UP/);
  const r = await swaks(['--server', `127.0.0.1:${haproxy.port}`, '--local-interface', '127.0.0.10', '--from', 'spam@example.org', '--to', 'victim@fabrikam.com']);
  assert.ok(replies(r).includes('550 5.4.1 Relay Access Denied'), r.output);
});
