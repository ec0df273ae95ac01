// rspamd's HTTP protocol: POST the message to /checkv2 with the envelope and session facts as
// request headers (IP, Helo, From, Rcpt, Queue-Id), get JSON back. Anything but a 200 with an
// action and a score is an error, so the caller fails closed.
import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import type { RspamdResult } from './spam-verdict.js';

/** rspamd's JSON is a few KB; more is not rspamd. */
const MAX_RESPONSE_BYTES = 1024 * 1024;

export class RspamdError extends Error {
  constructor(
    message: string,
    readonly code: 'E_RSPAMD_CONNECT' | 'E_RSPAMD_TIMEOUT' | 'E_RSPAMD_REPLY',
  ) {
    super(message);
    this.name = 'RspamdError';
  }
}

export interface CheckFacts {
  readonly ip?: string;
  readonly helo?: string;
  readonly from?: string;
  readonly rcpts?: readonly string[];
  readonly queueId?: string;
  readonly user?: string;
}

export function parseCheckReply(status: number, body: string): RspamdResult {
  if (status !== 200) throw new RspamdError(`rspamd answered HTTP ${status}`, 'E_RSPAMD_REPLY');
  let j: unknown;
  try {
    j = JSON.parse(body);
  } catch {
    throw new RspamdError('rspamd answered something that is not JSON', 'E_RSPAMD_REPLY');
  }
  const o = j as { action?: unknown; score?: unknown; symbols?: unknown; error?: unknown };
  if (typeof o.action !== 'string' || typeof o.score !== 'number') {
    throw new RspamdError(`rspamd gave no verdict${typeof o.error === 'string' ? `: ${o.error}` : ''}`, 'E_RSPAMD_REPLY');
  }
  const symbols = o.symbols !== null && typeof o.symbols === 'object' ? (o.symbols as RspamdResult['symbols']) : {};
  return { action: o.action, score: o.score, symbols };
}

function requestHeaders(f: CheckFacts): http.OutgoingHttpHeaders {
  const h: http.OutgoingHttpHeaders = {};
  if (f.ip) h['IP'] = f.ip;
  if (f.helo) h['Helo'] = f.helo;
  // rspamd reads an empty From as the null sender only when it is "<>".
  if (f.from !== undefined) h['From'] = f.from === '' ? '<>' : f.from;
  if (f.rcpts && f.rcpts.length > 0) h['Rcpt'] = [...f.rcpts];
  if (f.queueId) h['Queue-Id'] = f.queueId;
  if (f.user) h['User'] = f.user;
  return h;
}

export function checkMessage(
  baseUrl: string,
  body: Readable,
  facts: CheckFacts,
  opts: { timeoutMs: number; signal?: AbortSignal },
): Promise<RspamdResult> {
  const url = new URL(`${baseUrl}/checkv2`);
  const lib = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (err: Error) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      req.destroy();
      body.destroy();
      reject(err);
    };
    const timer = setTimeout(() => fail(new RspamdError(`rspamd did not answer within ${opts.timeoutMs} ms`, 'E_RSPAMD_TIMEOUT')), opts.timeoutMs);
    const req = lib.request(url, { method: 'POST', headers: requestHeaders(facts), signal: opts.signal }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        data += c;
        if (data.length > MAX_RESPONSE_BYTES) fail(new RspamdError('rspamd answer too large', 'E_RSPAMD_REPLY'));
      });
      res.on('end', () => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        try {
          resolve(parseCheckReply(res.statusCode ?? 0, data));
        } catch (err) {
          reject(err as Error);
        }
      });
      res.on('error', (e) => fail(new RspamdError(`rspamd: ${e.message}`, 'E_RSPAMD_REPLY')));
    });
    req.on('error', (e: NodeJS.ErrnoException) => {
      if (e.name === 'AbortError') return fail(new RspamdError('the check was cancelled (filter time budget spent)', 'E_RSPAMD_TIMEOUT'));
      fail(new RspamdError(`rspamd: ${e.code ?? e.message}`, e.code === 'ECONNREFUSED' ? 'E_RSPAMD_CONNECT' : 'E_RSPAMD_REPLY'));
    });
    body.on('error', (e) => fail(new RspamdError(`reading the message for rspamd failed: ${e.message}`, 'E_RSPAMD_REPLY')));
    body.pipe(req);
  });
}
