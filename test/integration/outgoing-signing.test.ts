// What leaves Sluice (delivery/outgoing/): originating mail DKIM-signed by Sluice and verified by an
// independent verifier (python3-dkim) against the record `sluice dkim keygen` printed; a message
// changed after signing fails; a 2000-octet header line arrives folded, no line over 998 octets;
// organisation headers never reach a connector without cloudServicesMailEnabled.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtemp, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, arrivedFor, type SmartHost } from '../helpers/smart-host.js';
import { CLI, startSluice, testConfig, type SluiceProcess } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { dkimVerify, txtValue } from '../helpers/dkim-verify.js';

const run = promisify(execFile);
let sluice: SluiceProcess;
let internet: SmartHost;
let onprem: SmartHost;
let record: { name: string; value: string };
const ON_PREM_IP = '127.0.0.2';
const INTERNET_IP = '127.0.0.5';

before(async () => {
  const certs = await makeCertSet();
  const keyDir = await mkdtemp(path.join(tmpdir(), 'sluice-dkim-'));
  const kg = await run(process.execPath, [CLI, 'dkim', 'keygen', '--domain', 'contoso.com', '--selector', 'selector1', '--dir', keyDir]);
  record = txtValue(kg.stdout);
  const keyFile = path.join(keyDir, 'contoso.com.selector1.key');
  assert.equal((await stat(keyFile)).mode & 0o777, 0o600);
  internet = await startSmartHost();
  onprem = await startSmartHost();
  sluice = await startSluice({
    certs,
    config: (port, dir) =>
      testConfig({
        port,
        dir,
        certs,
        patch: {
          inboundConnectors: [{ name: 'On-prem IP', connectorType: 'OnPremises', senderIPAddresses: [ON_PREM_IP] }],
          outboundConnectors: [
            { name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${onprem.port}`] },
            { name: 'To internet', connectorType: 'Partner', recipientDomains: ['*'], smartHosts: [`127.0.0.1:${internet.port}`] },
          ],
          dkimSigning: [{ domain: 'contoso.com', selector: 'selector1', privateKey: keyFile, enabled: true }],
        },
      }),
  });
});

after(async () => {
  await sluice?.stop();
  await internet?.close();
  await onprem?.close();
});

async function sendRaw(from: string, rcpt: string, data: string, localAddress: string): Promise<void> {
  const c = await RawSmtp.connect(sluice.port, { localAddress });
  await c.reply();
  await c.cmd('EHLO client.example');
  assert.match(await c.cmd(`MAIL FROM:<${from}>`), /^250 /);
  assert.match(await c.cmd(`RCPT TO:<${rcpt}>`), /^250 /);
  assert.match(await c.cmd('DATA'), /^354 /);
  c.write(data.replace(/\r?\n/g, '\r\n') + '\r\n.\r\n');
  assert.match(await c.reply(), /^250 /);
  await c.cmd('QUIT');
  c.close();
}

const longestLine = (raw: Buffer): number => Math.max(...raw.toString('latin1').split('\r\n').map((l) => l.length));
const words = (n: number): string => Array.from({ length: n }, (_, i) => `w${i}`).join(' ');

test('mail from the on-premises server is DKIM-signed and passes an independent verifier; a changed copy fails', async () => {
  const subject = `report ${words(500)}`; // > 2000 octets: folded before signing
  await sendRaw(
    'ann@contoso.com',
    'bob@fabrikam.com',
    `From: Ann <ann@contoso.com>\nTo: bob@fabrikam.com\nSubject: ${subject}\nX-MS-Exchange-Organization-AuthAs: Internal\n\nQuarterly numbers.\n`,
    ON_PREM_IP,
  );
  const m = await arrivedFor(internet, 'bob@fabrikam.com');
  const text = m.raw.toString('latin1');
  assert.match(text, /^DKIM-Signature: v=1; a=rsa-sha256; c=relaxed\/relaxed; d=contoso\.com;[^]*s=selector1/m);
  const tampered = Buffer.from(text.replace('Quarterly numbers.', 'Quarterly numbers!'), 'latin1');
  assert.notDeepEqual(tampered, m.raw);
  const [asSent, changed] = await Promise.all([dkimVerify(m.raw, record.name, record.value), dkimVerify(tampered, record.name, record.value)]);
  assert.equal(asSent, 'pass');
  assert.equal(changed, 'fail', 'a body changed after signing fails verification');
  assert.ok(longestLine(m.raw) <= 998, `longest line ${longestLine(m.raw)}`);
  assert.doesNotMatch(text, /X-MS-Exchange-Organization-/i, 'organisation headers stop at a Partner connector');
});

test('mail from an internet session is not signed, even with a From: in the signed domain', async () => {
  await sendRaw('eve@example.net', 'john@contoso.com', 'From: ann@contoso.com\nTo: john@contoso.com\nSubject: spoof\n\nhi\n', INTERNET_IP);
  const m = await arrivedFor(onprem, 'john@contoso.com');
  assert.doesNotMatch(m.raw.toString('latin1'), /^DKIM-Signature:/im);
});

test('a 2000-octet header line arrives folded at whitespace, its value unchanged, and a long body line is broken', async () => {
  const subject = words(400);
  const bodyLine = 'b'.repeat(1500);
  await sendRaw('eve@example.net', 'kim@contoso.com', `From: eve@example.net\nTo: kim@contoso.com\nSubject: ${subject}\n\n${bodyLine}\nend\n`, INTERNET_IP);
  const m = await arrivedFor(onprem, 'kim@contoso.com');
  const text = m.raw.toString('latin1');
  assert.ok(longestLine(m.raw) <= 998, `longest line ${longestLine(m.raw)}`);
  const sub = /^Subject:((?:.*\r\n)(?:[ \t].*\r\n)*)/m.exec(text);
  assert.ok(sub, 'the Subject field arrived');
  assert.ok(sub[1]!.split('\r\n').length > 2, 'it was folded over several lines');
  assert.equal(sub[1]!.replace(/\r\n(?=[ \t])/g, '').trim(), subject);
  assert.match(text, new RegExp(`\r\n${'b'.repeat(998)}\r\n ${'b'.repeat(502)}\r\nend\r\n`));
});
