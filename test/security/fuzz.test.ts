// Bounded fuzzing with fast-check. (a) The SMTP dialogue: random sequences of real, malformed and
// random-byte command lines, each on a fresh connection; every line must get an SMTP reply (or the
// connection may close right after a 421/5xx/221), and the daemon must neither crash nor log an
// unhandled rejection. (b) The config loader, in-process: random YAML-ish text and mutations of
// config/sluice.yaml yield a Model or a ConfigError whose issues name file, line and key path.
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { ConfigError, loadConfigText } from '../../src/config/load.js';
import { REPO_ROOT } from '../helpers/sluice.js';
import { RawSmtp } from '../helpers/raw-smtp.js';
import { crashSigns, startGateway, stillServing, track, type Gateway } from '../helpers/security-fixtures.js';

const SMTP_RUNS = 200;
const SMTP_TIME_LIMIT_MS = 40_000;
const REPLY_TIMEOUT_MS = 5_000;
const CONFIG_RUNS = 400;
const CONFIG_TIME_LIMIT_MS = 15_000;
/** Fixed seeds keep a failure reproducible; change them to explore further. */
const SMTP_SEED = 20231101;
const CONFIG_SEED = 42;

// ---- (a) the SMTP dialogue ----

type Step = { kind: 'line'; line: string } | { kind: 'data'; body: string[] };

const VALID = [
  'EHLO fuzz.example', 'HELO fuzz', 'MAIL FROM:<a@example.org>', 'MAIL FROM:<>', 'MAIL FROM:<a@example.org> SIZE=100 BODY=8BITMIME',
  'RCPT TO:<john@contoso.com>', 'RCPT TO:<victim@fabrikam.com>', 'RCPT TO:<a%b@contoso.com>', 'RSET', 'NOOP', 'VRFY john', 'HELP',
];
const VERBS = ['EHLO', 'HELO', 'MAIL', 'RCPT', 'RSET', 'NOOP', 'VRFY', 'EXPN', 'HELP', 'AUTH', 'XCLIENT', 'BDAT', 'mail from:', 'RCPT TO:'];
const noNewline = (s: string) => s.replace(/\n/g, ' ');
const bytesLine = fc.uint8Array({ maxLength: 300 }).map((b) => noNewline(Buffer.from(b).toString('latin1')));
const step: fc.Arbitrary<Step> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...VALID).map((line): Step => ({ kind: 'line', line })) },
  { weight: 2, arbitrary: fc.tuple(fc.constantFrom(...VERBS), fc.string({ maxLength: 80, unit: 'binary' })).map(([v, a]): Step => ({ kind: 'line', line: noNewline(`${v} ${a}`) })) },
  { weight: 2, arbitrary: bytesLine.map((line): Step => ({ kind: 'line', line })) },
  { weight: 1, arbitrary: fc.constantFrom(17_000, 600).map((n): Step => ({ kind: 'line', line: `NOOP ${'x'.repeat(n)}` })) },
  { weight: 2, arbitrary: fc.array(fc.string({ maxLength: 60, unit: 'binary' }).map((l) => l.replace(/[\r\n]/g, '')), { maxLength: 5 }).map((body): Step => ({ kind: 'data', body })) },
);
/** Half the runs open with a valid transaction so random steps also reach DATA and later states. */
const PREFIX: Step[] = ['EHLO fuzz.example', 'MAIL FROM:<a@example.org>', 'RCPT TO:<john@contoso.com>'].map((line) => ({ kind: 'line', line }));
const dialogueSteps = fc
  .tuple(fc.boolean(), fc.array(step, { minLength: 1, maxLength: 16 }))
  .map(([prefixed, steps]) => (prefixed ? [...PREFIX, ...steps] : steps));

const REPLY = /^[2345]\d\d(?:[ -]|$)/;
/** What the runs exercised, so a silently weak fuzzer shows up in the assertions. */
const stats = { runs: 0, lines: 0, messagesAccepted: 0, closedByServer: 0 };
const closesAfter = (r: string) => /^(421|221|5\d\d)/.test(r);

/** Runs one dialogue; throws (failing the property) when a line gets no valid reply. */
async function dialogue(port: number, steps: Step[]): Promise<void> {
  const c = track(await RawSmtp.connect(port));
  try {
    assert.match(await c.reply(REPLY_TIMEOUT_MS), /^220 /);
    let last = '220';
    const expectReply = async (what: string): Promise<boolean> => {
      const r = await c.reply(REPLY_TIMEOUT_MS);
      if (r === '') {
        stats.closedByServer++;
        assert.ok(closesAfter(last), `connection closed after "${last}" without a reply to ${JSON.stringify(what.slice(0, 80))}`);
        return false;
      }
      assert.match(r, REPLY, `not an SMTP reply to ${JSON.stringify(what.slice(0, 80))}`);
      last = r;
      stats.lines++;
      if (what === '<end of data>' && r.startsWith('250')) stats.messagesAccepted++;
      return true;
    };
    for (const s of steps) {
      const line = s.kind === 'line' ? s.line : 'DATA';
      c.write(Buffer.from(line + '\r\n', 'latin1'));
      if (!(await expectReply(line))) return;
      if (last.startsWith('354')) {
        const body = s.kind === 'data' ? s.body.map((l) => (l.startsWith('.') ? '.' + l : l)) : [];
        c.write(Buffer.from([...body, '.'].join('\r\n') + '\r\n', 'latin1'));
        if (!(await expectReply('<end of data>'))) return;
      }
      // STARTTLS (220) hands the socket to TLS and QUIT (221) ends it: the dialogue is over.
      if (/^22[01] /.test(last)) return;
    }
  } finally {
    c.close();
  }
}

describe('fuzzing the SMTP dialogue', () => {
  let gw: Gateway;

  before(async () => {
    gw = await startGateway({ limits: { maxConnectionsPerIp: 1000 } });
  });

  after(async () => {
    await gw?.stop();
  });

  test(`${SMTP_RUNS} random dialogues: every line gets an SMTP reply and the daemon survives`, async (t) => {
    const test_diagnostic = (m: string) => t.diagnostic(m);
    await fc.assert(
      fc.asyncProperty(dialogueSteps, async (steps) => {
        stats.runs++;
        await dialogue(gw.sluice.port, steps);
        assert.equal(gw.sluice.proc.exitCode, null, 'the daemon is alive');
      }),
      { numRuns: SMTP_RUNS, seed: SMTP_SEED, interruptAfterTimeLimit: SMTP_TIME_LIMIT_MS },
    );
    assert.ok(stats.runs >= 50 && stats.messagesAccepted > 0 && stats.closedByServer > 0, `too little was exercised: ${JSON.stringify(stats)}`);
    test_diagnostic(`SMTP fuzz: ${JSON.stringify(stats)}`);
    assert.ok(await stillServing(gw.sluice), 'a fresh EHLO is still answered');
    assert.deepEqual(crashSigns(gw.sluice), [], 'no crash or unhandled rejection was logged');
    assert.equal(gw.internet.messages.length, 0, 'nothing was relayed to the internet');
  });
});

// ---- (b) the config loader ----

const FILE = 'fuzz.yaml';
const DEFAULT_CONFIG = readFileSync(path.join(REPO_ROOT, 'config/sluice.yaml'), 'utf8');

/** Loads text; returns 'model' or 'config-error', and fails on any other outcome. */
function loadOutcome(text: string): 'model' | 'config-error' {
  try {
    const model = loadConfigText(text, FILE);
    assert.equal(typeof model, 'object');
    return 'model';
  } catch (err) {
    if (!(err instanceof ConfigError)) throw new Error(`not a ConfigError: ${(err as Error)?.stack ?? String(err)}`);
    assert.ok(err.issues.length > 0, 'a ConfigError lists at least one issue');
    for (const i of err.issues) {
      assert.equal(i.file, FILE);
      assert.ok(Number.isInteger(i.line) && i.line >= 0 && Number.isInteger(i.column), `line/column: ${JSON.stringify(i)}`);
      assert.equal(typeof i.path, 'string');
      assert.ok(typeof i.message === 'string' && i.message.length > 0);
    }
    return 'config-error';
  }
}

const TOKENS = [
  'server:', 'limits:', 'listen:', 'tls:', 'host:', 'port:', 'maxMessageSize:', 'idleTimeout:', 'acceptedDomains:', 'inboundConnectors:',
  'outboundConnectors:', 'name:', 'senderIPAddresses:', 'smartHosts:', 'tlsSenderCertificateName:', 'connectorType:', 'domain:', 'type:',
  '- ', '  ', '    ', '[', ']', '{', '}', ',', '"', "'", '&a', '*a', '<<: *a', '!!binary', '!!js/function', '|', '>', '? ', '---', '...', '#',
  '35MB', '-1', '1e309', '0x1F', 'null', '~', 'true', 'OnPremises', 'partner', '10.0.0.0/33', '10.0.1.9-10.0.1.1', '*.contoso.com', '*',
  '2001:db8::/64', '127.0.0.1:2526', '30s', '24h', '\t', '\u0000', '\uFEFF', 'é', '__proto__:', 'constructor:', 'toString:',
];
const yamlish = fc
  .array(fc.array(fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 8 })), { maxLength: 8 }).map((t) => t.join('')), { maxLength: 30 })
  .map((lines) => lines.join('\n'));

type Mutation = { op: 'delete' | 'duplicate' | 'swap' | 'insert' | 'replace' | 'truncate'; at: number; other: number; text: string };
const mutation: fc.Arbitrary<Mutation> = fc.record({
  op: fc.constantFrom('delete', 'duplicate', 'swap', 'insert', 'replace', 'truncate'),
  at: fc.nat(),
  other: fc.nat(),
  text: fc.oneof(fc.constantFrom(...TOKENS), fc.string({ maxLength: 12, unit: 'binary' })),
});

function mutate(text: string, muts: Mutation[]): string {
  let lines = text.split('\n');
  for (const m of muts) {
    const i = m.at % lines.length;
    const j = m.other % lines.length;
    const line = lines[i] ?? '';
    const col = line.length ? m.other % line.length : 0;
    if (m.op === 'delete') lines.splice(i, 1);
    else if (m.op === 'duplicate') lines.splice(i, 0, line);
    else if (m.op === 'swap') [lines[i], lines[j]] = [lines[j] ?? '', line];
    else if (m.op === 'insert') lines[i] = line.slice(0, col) + m.text + line.slice(col);
    else if (m.op === 'replace') lines[i] = line.slice(0, col) + m.text + line.slice(col + m.text.length);
    else lines = lines.slice(0, i + 1);
    if (lines.length === 0) lines = [''];
  }
  return lines.join('\n');
}

describe('fuzzing the config loader', () => {
  test('the default config itself loads', () => {
    assert.equal(loadOutcome(DEFAULT_CONFIG), 'model');
  });

  test('a YAML alias bomb and a deeply nested document are config errors, not crashes', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]', ...Array.from({ length: 8 }, (_, k) => `${'b'.repeat(k + 1)}: &${'a'.repeat(k + 2)} [${Array(9).fill(`*${'a'.repeat(k + 1)}`).join(',')}]`)].join('\n');
    assert.equal(loadOutcome(bomb), 'config-error');
    assert.equal(loadOutcome('server: ' + '['.repeat(5_000) + ']'.repeat(5_000)), 'config-error');
  });

  test(`${CONFIG_RUNS} random YAML-ish texts give a Model or a ConfigError with file, line and path`, () => {
    fc.assert(fc.property(yamlish, (text) => void loadOutcome(text)), { numRuns: CONFIG_RUNS, seed: CONFIG_SEED, interruptAfterTimeLimit: CONFIG_TIME_LIMIT_MS });
  });

  test(`${CONFIG_RUNS} mutations of config/sluice.yaml give a Model or a ConfigError with file, line and path`, () => {
    const seen = { model: 0, 'config-error': 0 };
    fc.assert(
      fc.property(fc.array(mutation, { minLength: 1, maxLength: 4 }), (muts) => void seen[loadOutcome(mutate(DEFAULT_CONFIG, muts))]++),
      { numRuns: CONFIG_RUNS, seed: CONFIG_SEED, interruptAfterTimeLimit: CONFIG_TIME_LIMIT_MS },
    );
    assert.ok(seen['config-error'] > 0 && seen.model > 0, `both outcomes occur: ${JSON.stringify(seen)}`);
  });
});
