// organization.rejectDirectSend over real SMTP: an anonymous session whose MAIL FROM claims an
// accepted domain is refused at MAIL FROM with EOP's 5.7.68; the on-prem server, a foreign sender
// and a sender a Partner connector claims are not. Assertions are on what the smart host received.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { arrivedFor } from '../helpers/smart-host.js';
import { startGateway, type Gateway } from '../helpers/security-fixtures.js';
import { swaks, replyTo, type SwaksResult } from '../helpers/clients.js';

const DIRECT_SEND = '550 5.7.68 TenantInboundAttribution; Direct Send not allowed for this organization from unauthorized sources';
let gw: Gateway;
const token = () => `tok${randomBytes(6).toString('hex')}`;

before(async () => {
  gw = await startGateway({
    organization: { rejectDirectSend: true },
    acceptedDomains: [
      { domain: 'contoso.com', type: 'Authoritative' },
      { domain: 'news.contoso.com', type: 'Authoritative' },
    ],
    inboundConnectors: [
      { name: 'From on-prem', connectorType: 'OnPremises', senderIPAddresses: ['127.0.0.2'] },
      // A newsletter service that sends as news.contoso.com from anywhere, but only over TLS.
      { name: 'Newsletter service', connectorType: 'Partner', senderDomains: ['news.contoso.com'], requireTls: true },
    ],
  });
});

after(async () => {
  await gw?.stop();
});

const sendAs = (from: string, to: string, t: string, extra: string[] = []): Promise<SwaksResult> =>
  swaks(['--server', `127.0.0.1:${gw.sluice.port}`, ...extra, '--from', from, '--to', to, '--header', `Subject: ${t}`]);

describe('organization.rejectDirectSend: true', () => {
  test('an anonymous sender claiming an accepted domain is refused at MAIL FROM with 5.7.68; a foreign sender is delivered', async () => {
    const [spoofed, honest] = [token(), token()];
    const r = await sendAs('ceo@contoso.com', `bob-${spoofed}@contoso.com`, spoofed);
    assert.equal(replyTo(r, 'MAIL FROM'), DIRECT_SEND, r.output);
    assert.equal(replyTo(r, 'RCPT TO'), null, 'swaks gave up after MAIL FROM: no recipient was even offered');
    await gw.sluice.waitForLog((l) => l.msg === 'sender refused' && /^direct send: anonymous session with MAIL FROM in accepted domain contoso\.com/.test(String(l.reason)));

    const ok = await sendAs('sun@fabrikam.com', `bob-${honest}@contoso.com`, honest);
    assert.match(replyTo(ok, 'MAIL FROM') ?? '', /^250 /, ok.output);
    await arrivedFor(gw.onprem, `bob-${honest}@contoso.com`);
    // The refused transaction never got past MAIL FROM, so nothing of it can be queued behind this one.
    assert.equal(gw.onprem.messages.filter((m) => m.raw.includes(spoofed)).length, 0);
  });

  test('the on-prem server identified by IP still sends as the accepted domain', async () => {
    const t = token();
    const r = await sendAs('ceo@contoso.com', `bob-${t}@contoso.com`, t, ['--local-interface', '127.0.0.2']);
    assert.match(replyTo(r, 'MAIL FROM') ?? '', /^250 /, r.output);
    const got = await arrivedFor(gw.onprem, `bob-${t}@contoso.com`);
    assert.equal(got.mailFrom, 'ceo@contoso.com');
  });

  test('a sender a Partner connector claims is exempt, and that connector still requires TLS', async () => {
    const [plain, overTls] = [token(), token()];
    const refused = await sendAs('letter@news.contoso.com', `bob-${plain}@contoso.com`, plain);
    assert.match(replyTo(refused, 'MAIL FROM') ?? '', /^250 /, 'exempt from Direct Send');
    assert.equal(replyTo(refused, 'RCPT TO'), '550 5.7.51 TenantInboundAttribution; STARTTLS is required to send mail to this organization', refused.output);

    const r = await sendAs('letter@news.contoso.com', `bob-${overTls}@contoso.com`, overTls, ['--tls']);
    assert.match(replyTo(r, 'RCPT TO') ?? '', /^250 /, r.output);
    await arrivedFor(gw.onprem, `bob-${overTls}@contoso.com`);
    assert.equal(gw.onprem.messages.filter((m) => m.raw.includes(plain)).length, 0);
  });
});
