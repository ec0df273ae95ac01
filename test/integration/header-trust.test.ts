// The header trust boundary over real SMTP, through the real pipeline (the filter is in the
// registry, not injected): what the smart hosts received. A forged
// X-MS-Exchange-Organization-AuthAs: Internal from the internet is removed and replaced by
// Anonymous, which a hybrid connector (cloudServicesMailEnabled) carries as a cross-premises
// header and any other connector does not carry at all.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, arrivedFor, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';

let sluice: SluiceProcess;
let hybrid: SmartHost;
let plain: SmartHost;
let internet: SmartHost;
const ON_PREM_IP = '127.0.0.2';
const INTERNET_IP = '127.0.0.6';

before(async () => {
  const certs = await makeCertSet();
  [hybrid, plain, internet] = await Promise.all([startSmartHost(), startSmartHost(), startSmartHost()]);
  sluice = await startSluice({
    certs,
    config: (port, dir) =>
      testConfig({
        port,
        dir,
        certs,
        patch: {
          acceptedDomains: [{ domain: 'contoso.com' }, { domain: 'plain.contoso.net' }],
          inboundConnectors: [{ name: 'On-prem', connectorType: 'OnPremises', senderIPAddresses: [ON_PREM_IP], cloudServicesMailEnabled: true, treatMessagesAsInternal: true }],
          outboundConnectors: [
            { name: 'Hybrid', connectorType: 'OnPremises', recipientDomains: ['contoso.com'], smartHosts: [`127.0.0.1:${hybrid.port}`], cloudServicesMailEnabled: true },
            { name: 'Plain', connectorType: 'OnPremises', recipientDomains: ['plain.contoso.net'], smartHosts: [`127.0.0.1:${plain.port}`] },
            { name: 'Internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
          ],
        },
      }),
  });
});

after(async () => {
  await sluice?.stop();
  await Promise.all([hybrid, plain, internet].map((h) => h?.close()));
});

async function sendRaw(from: string, rcpts: string[], data: string, localAddress: string): Promise<void> {
  const c = await RawSmtp.connect(sluice.port, { localAddress });
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd(`MAIL FROM:<${from}>`), /^250 /);
  for (const r of rcpts) assert.match(await c.cmd(`RCPT TO:<${r}>`), /^250 /);
  assert.match(await c.cmd('DATA'), /^354 /);
  c.write(data.replace(/\r?\n/g, '\r\n') + '\r\n.\r\n');
  assert.match(await c.reply(), /^250 /);
  await c.cmd('QUIT');
  c.close();
}

const header = (raw: Buffer, name: string): string[] =>
  [...raw.toString('latin1').split('\r\n\r\n')[0]!.matchAll(new RegExp(`^${name}:[ \\t]*(.*)$`, 'gim'))].map((m) => m[1]!);

test('a forged AuthAs: Internal from the internet is removed and replaced by Anonymous', async () => {
  await sendRaw(
    'eve@example.net',
    ['john@contoso.com', 'kim@plain.contoso.net'],
    'From: eve@example.net\nX-MS-Exchange-Organization-AuthAs: Internal\nX-MS-Exchange-CrossPremises-AuthAs: Internal\nX-MS-Exchange-Organization-SCL: -1\nSubject: trust me\n\nhi\n',
    INTERNET_IP,
  );
  const toHybrid = await arrivedFor(hybrid, 'john@contoso.com');
  assert.deepEqual(header(toHybrid.raw, 'X-MS-Exchange-CrossPremises-AuthAs'), ['Anonymous']);
  assert.deepEqual(header(toHybrid.raw, 'X-MS-Exchange-CrossPremises-MessageDirectionality'), ['Incoming']);
  assert.deepEqual(header(toHybrid.raw, 'X-MS-Exchange-CrossPremises-AuthSource'), ['gateway.sluice.test']);
  assert.deepEqual(header(toHybrid.raw, 'X-MS-Exchange-CrossPremises-SCL'), [], 'the forged SCL is gone and no spam verdict exists');
  assert.deepEqual(header(toHybrid.raw, 'X-MS-Exchange-Organization-[A-Za-z-]+'), [], 'no organisation header leaves as such');
  const toPlain = await arrivedFor(plain, 'kim@plain.contoso.net');
  assert.doesNotMatch(toPlain.raw.toString('latin1'), /X-MS-Exchange-(Organization|CrossPremises)-/i, 'without cloudServicesMailEnabled neither kind leaves');
  assert.match(toPlain.raw.toString('latin1'), /^Subject: trust me$/m);
});

test('an on-premises hybrid session keeps its cross-premises headers as organisation headers and is Internal/Originating', async () => {
  await sendRaw(
    'ann@contoso.com',
    ['bob@contoso.com', 'carol@fabrikam.com'],
    'From: ann@contoso.com\nX-MS-Exchange-CrossPremises-Antispam-ScanContext: DIR:Originating;\nX-MS-Exchange-Organization-AuthAs: Anonymous\nSubject: internal\n\nhi\n',
    ON_PREM_IP,
  );
  const m = await arrivedFor(hybrid, 'bob@contoso.com');
  assert.deepEqual(header(m.raw, 'X-MS-Exchange-CrossPremises-Antispam-ScanContext'), ['DIR:Originating;']);
  assert.deepEqual(header(m.raw, 'X-MS-Exchange-CrossPremises-AuthAs'), ['Internal'], 'treatMessagesAsInternal');
  assert.deepEqual(header(m.raw, 'X-MS-Exchange-CrossPremises-MessageDirectionality'), ['Originating']);
  const out = await arrivedFor(internet, 'carol@fabrikam.com');
  assert.doesNotMatch(out.raw.toString('latin1'), /X-MS-Exchange-(Organization|CrossPremises)-/i, 'nothing of ours reaches the internet');
});
