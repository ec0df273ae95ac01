// Microsoft's partner lock-down recipe over real SMTP (config/examples/partner-lockdown.yaml): a
// Partner connector for every sender domain ("*"), restricted to the filtering service's address
// (127.0.0.3 here). Internet mail is accepted only through the service; the on-premises server,
// identified by its certificate or its address (127.0.0.2), is judged by its OnPremises connector
// alone, so it still relays out and delivers in. Assertions are on what the smart hosts received.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { arrivedFor } from '../helpers/smart-host.js';
import { startGateway, type Gateway } from '../helpers/security-fixtures.js';
import { message, replies, replyTo, send, swaks } from '../helpers/clients.js';

const GATEWAY_IP = '127.0.0.3';
const ONPREM_IP = '127.0.0.2';
const EOP_PARTNER_TEXT =
  "550 5.7.51 TenantInboundAttribution; There is a partner connector configured that matched the message's recipient domain. " +
  'The connector had either the RestrictDomainsToIPAddresses or RestrictDomainsToCertificate set';

let gw: Gateway;
const token = () => `tok${randomBytes(6).toString('hex')}`;

before(async () => {
  // Smart hosts "To on-prem" (accepted domains) and "To internet" ("*"), as in the recipe.
  gw = await startGateway({
    inboundConnectors: [
      {
        name: 'Filtering service',
        connectorType: 'Partner',
        senderDomains: ['*'],
        senderIPAddresses: [GATEWAY_IP],
        restrictDomainsToIPAddresses: true,
      },
      { name: 'From on-prem', connectorType: 'OnPremises', senderIPAddresses: [ONPREM_IP], tlsSenderCertificateName: 'mail.contoso.com' },
    ],
  });
});

after(async () => {
  await gw?.stop();
});

/** One message to a local and an internet recipient; both must arrive at their own smart host. */
async function relaysOutAndDeliversIn(opts: { localAddress?: string; tls?: { cert: string; key: string } }, via: RegExp): Promise<void> {
  const t = token();
  const [local, remote] = [`bob-${t}@contoso.com`, `sun-${t}@fabrikam.com`];
  const raw = message({ from: 'john@contoso.com', to: local, subject: t });
  const info = await send({ port: gw.sluice.port, from: 'john@contoso.com', to: [local, remote], raw, ...opts });
  assert.match(info.response, /^250 2\.6\.0 /);
  const inbound = await arrivedFor(gw.onprem, local);
  const outbound = await arrivedFor(gw.internet, remote);
  assert.deepEqual([inbound.rcptTo, outbound.rcptTo], [[local], [remote]]);
  assert.match(outbound.raw.toString('latin1'), via);
}

describe('the partner lock-down recipe', () => {
  test('the on-prem server identified by its certificate relays to the internet and delivers inbound', async () => {
    const cert = gw.certs.clients.goodCn;
    await relaysOutAndDeliversIn({ tls: { cert: cert.cert, key: cert.key } }, /inbound connector "From on-prem" by certificate/);
  });

  test('the on-prem server identified by its IP relays to the internet and delivers inbound', async () => {
    await relaysOutAndDeliversIn({ localAddress: ONPREM_IP }, /inbound connector "From on-prem" by ip/);
  });

  test('an internet sender from outside the filtering service gets 5.7.51; the same sender through it is delivered', async () => {
    const [refused, passed] = [token(), token()];
    const direct = await swaks([
      '--server', `127.0.0.1:${gw.sluice.port}`, '--from', 'sun@fabrikam.com', '--to', `bob-${refused}@contoso.com`,
      '--header', `Subject: ${refused}`,
    ]);
    assert.equal(replyTo(direct, 'RCPT TO'), EOP_PARTNER_TEXT, direct.output);
    assert.ok(!replies(direct).some((l) => l.startsWith('250 2.6.0')), 'nothing was queued');
    assert.ok(!direct.output.includes('Filtering service'), 'the reply names no connector');
    await gw.sluice.waitForLog(
      (l) => l.msg === 'recipient refused' && l.reason === "restriction: partner connector 'Filtering service': sender IP 127.0.0.1 not in senderIPAddresses",
    );

    const viaService = await swaks([
      '--server', `127.0.0.1:${gw.sluice.port}`, '--local-interface', GATEWAY_IP, '--from', 'sun@fabrikam.com',
      '--to', `bob-${passed}@contoso.com`, '--header', `Subject: ${passed}`,
    ]);
    assert.match(replyTo(viaService, 'RCPT TO') ?? '', /^250 /, viaService.output);
    const got = await arrivedFor(gw.onprem, `bob-${passed}@contoso.com`);
    assert.match(got.raw.toString('latin1'), /inbound connector "Filtering service" by ip/);
    // The refused transaction never reached DATA's 250, so it cannot be behind the one that arrived.
    assert.equal([...gw.onprem.messages, ...gw.internet.messages].filter((m) => m.raw.includes(refused)).length, 0);
  });

  test('the filtering service may not relay to the internet (550 5.7.64)', async () => {
    const r = await swaks(['--server', `127.0.0.1:${gw.sluice.port}`, '--local-interface', GATEWAY_IP, '--from', 'sun@fabrikam.com', '--to', 'x@outlook.com']);
    assert.equal(replyTo(r, 'RCPT TO'), '550 5.7.64 TenantAttribution; Relay Access Denied', r.output);
  });
});
