// Mail-flow rules over real SMTP: a rule routes matching mail through a rule-scoped connector
// (which smart host got it is asserted) while other mail takes the normal route; a DLP rule
// rejects with its configured code and text and nothing is delivered; blind copy and redirect
// reach their recipients; Audit changes nothing but is logged; a disclaimer reaches both parts.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { simpleParser } from 'mailparser';
import { makeCertSet } from '../helpers/certs.js';
import { startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { arrivedFor, startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { message, send } from '../helpers/clients.js';

let sluice: SluiceProcess;
let onprem: SmartHost;
let internet: SmartHost;
let partner: SmartHost;
const tok = () => `t${randomBytes(5).toString('hex')}`;

before(async () => {
  const certs = await makeCertSet();
  [onprem, internet, partner] = await Promise.all([startSmartHost(), startSmartHost(), startSmartHost()]);
  const patch = {
    inboundConnectors: [{ name: 'From on-prem', connectorType: 'OnPremises', senderIPAddresses: ['127.0.0.2'] }],
    outboundConnectors: [
      { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${onprem.port}`] },
      { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
      { name: 'Partner TLS', connectorType: 'Partner', isTransportRuleScoped: true, smartHosts: [`127.0.0.1:${partner.port}`] },
    ],
    organization: { senderRewriting: { enabled: true, secret: 'a-test-secret-of-16+', domain: 'srs.contoso.com' } },
    transportRules: [
      {
        name: 'Finance via partner',
        sentToScope: 'NotInOrganization',
        subjectOrBodyContainsWords: ['invoice'],
        exceptIfFromAddressContainsWords: ['noreply'],
        routeMessageOutboundConnector: 'Partner TLS',
      },
      {
        name: 'No cards',
        messageContainsDataClassifications: [{ name: 'Credit Card Number' }],
        rejectMessageReasonText: 'Credit card numbers may not be sent by mail',
        rejectMessageEnhancedStatusCode: '5.7.901',
      },
      { name: 'Archive legal', sentTo: ['legal@contoso.com'], blindCopyTo: ['archive@contoso.com'] },
      { name: 'Redirect ex-employee', sentTo: ['gone@contoso.com'], redirectMessageTo: ['manager@contoso.com'] },
      { name: 'Forward to private mailbox', sentTo: ['fwd@contoso.com'], redirectMessageTo: ['private@elsewhere.test'] },
      { name: 'Audit big words', mode: 'Audit', subjectContainsWords: ['audited'], deleteMessage: true },
      { name: 'Disclaimer', fromScope: 'InOrganization', subjectContainsWords: ['disclaimer'], applyHtmlDisclaimerText: '<p>Contoso confidential</p>' },
    ],
  };
  sluice = await startSluice({ certs, config: (port, dir) => testConfig({ port, dir, certs, patch }) });
});

after(async () => {
  await sluice?.stop();
  await Promise.all([onprem?.close(), internet?.close(), partner?.close()]);
});

const fromOnPrem = (to: string[], raw: string) => send({ port: sluice.port, localAddress: '127.0.0.2', from: 'ann@contoso.com', to, raw });

describe('transportRules over SMTP', () => {
  test('a matching message goes through the rule-scoped connector; the rest take the normal route', async () => {
    const [hit, miss, except] = [tok(), tok(), tok()];
    await fromOnPrem([`x-${hit}@partner.test`], message({ from: 'ann@contoso.com', to: `x-${hit}@partner.test`, subject: `Invoice ${hit}` }));
    await fromOnPrem([`x-${miss}@partner.test`], message({ from: 'ann@contoso.com', to: `x-${miss}@partner.test`, subject: `Lunch ${miss}` }));
    await send({ port: sluice.port, localAddress: '127.0.0.2', from: 'noreply@contoso.com', to: [`x-${except}@partner.test`], raw: message({ from: 'noreply@contoso.com', to: `x-${except}@partner.test`, subject: `invoice ${except}` }) });
    await arrivedFor(partner, `x-${hit}@partner.test`);
    await arrivedFor(internet, `x-${miss}@partner.test`);
    await arrivedFor(internet, `x-${except}@partner.test`);
    assert.equal(internet.messages.filter((m) => m.raw.includes(hit)).length, 0);
    assert.equal(partner.messages.filter((m) => m.raw.includes(miss) || m.raw.includes(except)).length, 0);
  });

  test('a DLP rule rejects with its code and text; nothing is delivered', async () => {
    const t = tok();
    await assert.rejects(
      fromOnPrem([`x-${t}@partner.test`], message({ from: 'ann@contoso.com', to: `x-${t}@partner.test`, subject: t, body: 'card 4111 1111 1111 1111\r\n' })),
      (err: Error & { response?: string }) => {
        assert.equal(err.response, '550 5.7.901 Credit card numbers may not be sent by mail');
        return true;
      },
    );
    await sluice.waitForLog((l) => l.msg === 'message refused' || (l.msg === 'filter verdict' && l.filter === 'rule:No cards'));
    for (const h of [onprem, internet, partner]) assert.equal(h.messages.filter((m) => m.raw.includes(t)).length, 0);
  });

  test('blind copy and redirect reach their recipients', async () => {
    const t = tok();
    await send({ port: sluice.port, from: 'bob@fabrikam.com', to: ['legal@contoso.com', 'gone@contoso.com'], raw: message({ from: 'bob@fabrikam.com', to: 'legal@contoso.com', subject: t }) });
    await arrivedFor(onprem, 'legal@contoso.com');
    await arrivedFor(onprem, 'archive@contoso.com');
    await arrivedFor(onprem, 'manager@contoso.com');
    const got = onprem.messages.filter((m) => m.raw.includes(t));
    const rcpts = got.flatMap((m) => m.rcptTo).sort();
    assert.deepEqual(rcpts, ['archive@contoso.com', 'legal@contoso.com', 'manager@contoso.com'], 'gone@ was replaced, each once');
  });

  test('redirected mail leaving for another domain gets an SRS sender; a bounce to it reaches the original sender; a forged one is refused', async () => {
    const t = tok();
    await send({ port: sluice.port, from: 'bob@fabrikam.com', to: ['fwd@contoso.com'], raw: message({ from: 'bob@fabrikam.com', to: 'fwd@contoso.com', subject: t }) });
    const out = await arrivedFor(internet, 'private@elsewhere.test');
    assert.match(out.mailFrom, /^SRS0=[^=]{4}=[A-Z2-7]{2}=fabrikam\.com=bob@srs\.contoso\.com$/);
    assert.ok(out.raw.includes(t));
    const before = internet.messages.filter((m) => m.rcptTo.includes('bob@fabrikam.com')).length;
    await send({ port: sluice.port, from: '', to: [out.mailFrom], raw: message({ from: 'mailer-daemon@elsewhere.test', to: out.mailFrom, subject: `bounce ${t}` }) });
    const bounce = await arrivedFor(internet, 'bob@fabrikam.com');
    assert.ok(bounce.raw.includes(`bounce ${t}`));
    assert.equal(internet.messages.filter((m) => m.rcptTo.includes('bob@fabrikam.com')).length, before + 1);
    const forged = out.mailFrom.replace(/^SRS0=[^=]{4}/, 'SRS0=ZZZZ');
    await assert.rejects(send({ port: sluice.port, from: '', to: [forged], raw: message({ from: 'x@elsewhere.test', to: forged, subject: 'forged' }) }), (err: Error & { response?: string }) => {
      assert.equal(err.response, '550 5.1.1 Recipient address rejected: invalid or expired forwarding address');
      return true;
    });
  });

  test('Audit mode delivers unchanged and logs what it would have done', async () => {
    const t = tok();
    await send({ port: sluice.port, from: 'bob@fabrikam.com', to: [`a-${t}@contoso.com`], raw: message({ from: 'bob@fabrikam.com', to: `a-${t}@contoso.com`, subject: `audited ${t}` }) });
    const got = await arrivedFor(onprem, `a-${t}@contoso.com`);
    assert.match(got.raw.toString(), new RegExp(`Subject: audited ${t}`));
    const line = await sluice.waitForLog((l) => l.msg === 'message queued' && JSON.stringify(l.rcpts ?? '').includes(`a-${t}@contoso.com`));
    assert.match(JSON.stringify(line.filters), /Audit: no action taken/);
  });

  test('a disclaimer is added to the text and HTML parts of an on-prem message; still valid MIME', async () => {
    const t = tok();
    const raw =
      `From: ann@contoso.com\r\nTo: x-${t}@partner.test\r\nSubject: disclaimer ${t}\r\nMIME-Version: 1.0\r\n` +
      `Content-Type: multipart/alternative; boundary="b"\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nHello\r\n` +
      `--b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><body><p>Hello</p></body></html>\r\n--b--\r\n`;
    await fromOnPrem([`x-${t}@partner.test`], raw);
    const got = await arrivedFor(internet, `x-${t}@partner.test`);
    const parsed = await simpleParser(got.raw);
    assert.match(parsed.text ?? '', /Hello\s+Contoso confidential/);
    assert.match(String(parsed.html), /<p>Hello<\/p><div class="sluice-disclaimer"><p>Contoso confidential<\/p><\/div><\/body>/);
  });
});
