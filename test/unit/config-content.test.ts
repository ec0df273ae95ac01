// The content-filter config section (config/sections/content.ts): defaults, EOP's enum spellings
// in any case, and each bad value reported at its key path and line.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ConfigError, loadConfigText, type ConfigIssue } from '../../src/config/load.js';
import { CONTENT_DEFAULTS } from '../../src/config/sections/content.js';

// Lines 1-4; every case's own YAML starts at line 5.
const BASE = `server:
  hostname: gw.example.test
  listen: [{ host: 127.0.0.1, port: 2525 }]
  tls: { cert: certs/server.crt, key: certs/server.key, clientCa: [certs/ca.crt] }
`;

function issuesOf(text: string): ConfigIssue[] {
  try {
    loadConfigText(text, 'content.yaml');
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.issues;
  }
  return [];
}

describe('content filter config', () => {
  it('leaves both filters off by default, with the documented defaults', () => {
    const m = loadConfigText(BASE, 'content.yaml');
    assert.deepEqual(m.malwareFilter, CONTENT_DEFAULTS.malwareFilter);
    assert.deepEqual(m.spamFilter, CONTENT_DEFAULTS.spamFilter);
    assert.equal(m.malwareFilter.enabled, false);
    assert.equal(m.spamFilter.enabled, false);
  });

  it("reads the issue's example, enums in any case", () => {
    const m = loadConfigText(
      `${BASE}malwareFilter:
  enabled: true
  clamd: 127.0.0.1:3310
  action: quarantine
  timeout: 30s
  enableFileFilter: true
  fileTypes: [exe, .COM, "*.scr"]
  fileTypeAction: Reject
  onError: accept
spamFilter:
  enabled: true
  rspamd: { url: http://127.0.0.1:11333/, timeout: 15s }
  spamAction: movetojmf
  highConfidenceSpamAction: Quarantine
  bulkSpamAction: MoveToJmf
  bulkThreshold: 7
  addXHeaderValue: "X-Spam-Flag: YES"
  modifySubjectValue: "[SPAM] "
  redirectToRecipients: []
  allowedSenders: [Ann@Fabrikam.com]
  allowedSenderDomains: [tailspin.com]
  blockedSenders: []
  blockedSenderDomains: []
  markAsSpamSpfRecordHardFail: false
  onError: Tempfail
`,
      'content.yaml',
    );
    assert.equal(m.malwareFilter.action, 'Quarantine');
    assert.equal(m.malwareFilter.onError, 'Accept');
    assert.deepEqual(m.malwareFilter.clamd, { kind: 'tcp', host: '127.0.0.1', port: 3310 });
    assert.deepEqual(m.malwareFilter.fileTypes, ['exe', 'com', 'scr']);
    assert.equal(m.spamFilter.spamAction, 'MoveToJmf');
    assert.equal(m.spamFilter.rspamd.url, 'http://127.0.0.1:11333');
    assert.deepEqual(m.spamFilter.addXHeaderValue, { name: 'X-Spam-Flag', value: 'YES' });
    assert.deepEqual(m.spamFilter.allowedSenders, ['ann@fabrikam.com']);
  });

  it('takes a unix socket path for clamd', () => {
    const m = loadConfigText(`${BASE}malwareFilter: { clamd: /run/clamav/clamd.ctl }\n`, 'content.yaml');
    assert.deepEqual(m.malwareFilter.clamd, { kind: 'unix', path: '/run/clamav/clamd.ctl' });
  });

  const bad: { name: string; yaml: string; path: string; line: number; message: RegExp }[] = [
    { name: 'a clamd address without a port', yaml: 'malwareFilter:\n  clamd: localhost\n', path: 'malwareFilter.clamd', line: 6, message: /host:port/ },
    { name: 'an unknown malware action', yaml: 'malwareFilter:\n  action: Delete\n', path: 'malwareFilter.action', line: 6, message: /Reject, Quarantine/ },
    { name: 'an unknown spam action', yaml: 'spamFilter:\n  spamAction: Junk\n', path: 'spamFilter.spamAction', line: 6, message: /MoveToJmf/ },
    { name: 'a BCL threshold over 9', yaml: 'spamFilter:\n  bulkThreshold: 10\n', path: 'spamFilter.bulkThreshold', line: 6, message: /9/ },
    { name: 'a non-http rspamd url', yaml: 'spamFilter:\n  rspamd: { url: "ftp://x" }\n', path: 'spamFilter.rspamd.url', line: 6, message: /http/ },
    { name: 'a bad allowed sender', yaml: 'spamFilter:\n  allowedSenders: [not-an-address]\n', path: 'spamFilter.allowedSenders[0]', line: 6, message: /email address/ },
    {
      name: 'Redirect without recipients',
      yaml: 'spamFilter:\n  spamAction: Redirect\n',
      path: 'spamFilter.redirectToRecipients',
      line: 5,
      message: /spamAction: Redirect needs/,
    },
    { name: 'an unknown key', yaml: 'spamFilter:\n  spamActoin: Reject\n', path: 'spamFilter.spamActoin', line: 6, message: /spamActoin/ },
  ];
  for (const b of bad) {
    it(`reports ${b.name} at its key path`, () => {
      const issues = issuesOf(BASE + b.yaml);
      assert.equal(issues.length, 1, JSON.stringify(issues));
      assert.equal(issues[0]!.path, b.path);
      assert.equal(issues[0]!.line, b.line);
      assert.match(issues[0]!.message, b.message);
    });
  }
});
