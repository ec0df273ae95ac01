// Hot reload: the daemon applies a valid edit of its YAML file without a restart, and refuses an
// invalid one with every error logged while it keeps serving on the config it had.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { parse, stringify } from 'yaml';
import { makeCertSet } from '../helpers/certs.js';
import { startSmartHost, type SmartHost } from '../helpers/smart-host.js';
import { startSluice, type SluiceProcess } from '../helpers/sluice.js';
import { replyTo, swaks } from '../helpers/clients.js';

let sluice: SluiceProcess;
let sink: SmartHost;

before(async () => {
  const certs = await makeCertSet();
  sink = await startSmartHost();
  sluice = await startSluice({
    certs,
    patch: {
      outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${sink.port}`] }],
    },
  });
});

after(async () => {
  await sluice?.stop();
  await sink?.close();
});

const rcptReply = async (to: string) => {
  const r = await swaks(['--server', `127.0.0.1:${sluice.port}`, '--from', 'sun@example.org', '--to', to, '--quit-after', 'RCPT']);
  return replyTo(r, 'RCPT TO') ?? r.output;
};

async function editConfig(change: (c: Record<string, unknown>) => void): Promise<void> {
  const config = parse(await readFile(sluice.configPath, 'utf8')) as Record<string, unknown>;
  change(config);
  await writeFile(sluice.configPath, stringify(config));
}

test('a valid edit of the config file is applied without a restart', async () => {
  assert.match(await rcptReply('john@fabrikam.com'), /^550 5\.4\.1 /);
  await editConfig((c) => {
    (c.acceptedDomains as unknown[]).push({ domain: 'fabrikam.com', type: 'Authoritative' });
  });
  await sluice.waitForLog((l) => l.msg === 'configuration reloaded');
  assert.match(await rcptReply('john@fabrikam.com'), /^250 2\.1\.5 /);
});

test('an invalid edit is refused with its errors logged and the running config stays', async () => {
  await editConfig((c) => {
    (c.acceptedDomains as unknown[]).push({ domain: 'bad domain!', tpye: 'Authoritative' });
  });
  const line = await sluice.waitForLog((l) => l.msg === 'configuration rejected; keeping the running one');
  assert.match(String(line.errors), /acceptedDomains\[2\]/);
  assert.match(String(line.errors), /sluice\.yaml:\d+:\d+/);
  assert.match(await rcptReply('john@fabrikam.com'), /^250 2\.1\.5 /, 'still on the previous config');
  assert.equal(sluice.proc.exitCode, null, 'daemon still running');
});
