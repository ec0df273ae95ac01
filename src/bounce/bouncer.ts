// Queues a DSN for a spooled message: reads the original headers (or the whole message for
// RET=FULL failures) from the spool, renders the report, and commits it to the spool as a new
// message from <> to the original sender, routed like any other mail. Returns its record.
import { randomBytes } from 'node:crypto';
import type { Model } from '../domain/model.js';
import type { Logger } from '../observe/log.js';
import type { RcptState, SpoolRecord } from '../queue/record.js';
import type { Spool } from '../queue/spool.js';
import { selectRoute } from '../routing/select-connector.js';
import { normaliseDomain } from '../domain/match.js';
import { renderDsn, type DsnRecipient } from './render-dsn.js';
import { withoutOrgHeaders } from '../delivery/outgoing/org-headers.js';
import { track } from '../observe/events.js';
import { recordEvent } from '../observe/record-fields.js';

/** Headers beyond this are cut from a returned header block (Postfix's bounce_size_limit idea). */
const HEADER_READ_LIMIT_BYTES = 256 * 1024;
/** RET=FULL returns the message only up to this size; larger ones get their headers back. */
const FULL_RETURN_LIMIT_BYTES = 10 * 1024 * 1024;

async function readOriginal(spool: Spool, rec: SpoolRecord, full: boolean): Promise<{ headers: Buffer; full: Buffer | null }> {
  const size = rec.size + Buffer.byteLength(rec.headers ?? '', 'latin1');
  if (full && size <= FULL_RETURN_LIMIT_BYTES) {
    // The sender is outside the header trust boundary: no organisation headers go back to it.
    const all = withoutOrgHeaders(await spool.readHead(rec, size));
    return { headers: headerBlock(all), full: all };
  }
  return { headers: headerBlock(withoutOrgHeaders(await spool.readHead(rec, HEADER_READ_LIMIT_BYTES))), full: null };
}

/** The header block up to (not including) the blank line that ends it. */
function headerBlock(msg: Buffer): Buffer {
  const end = msg.indexOf('\r\n\r\n');
  return end < 0 ? msg : msg.subarray(0, end + 2);
}

function domainOf(address: string): string {
  const d = address.slice(address.lastIndexOf('@') + 1);
  return normaliseDomain(d) ?? d.toLowerCase();
}

export class Bouncer {
  constructor(
    private readonly spool: Spool,
    private readonly getModel: () => Model,
    private readonly log: Logger,
  ) {}

  /**
   * Commits one DSN about `rec` covering `recipients` and resolves with its spool record (for the
   * queue manager to enqueue). Callers never pass a null-sender message: bounces are not bounced.
   * Throws SluiceError E_SPOOL_WRITE when the spool cannot take it; the caller retries later.
   */
  async queue(rec: SpoolRecord, recipients: DsnRecipient[], now: number): Promise<SpoolRecord> {
    if (!rec.mailFrom) throw new Error('a DSN is never sent for a null-sender message');
    const model = this.getModel();
    const failed = recipients.some((r) => r.action === 'failed');
    const original = await readOriginal(this.spool, rec, failed && rec.dsn?.ret === 'FULL');
    const id = this.spool.newId();
    const hostname = model.server.hostname;
    const raw = renderDsn({
      reportingMta: hostname,
      to: rec.mailFrom,
      date: new Date(now),
      messageId: `<${id}.dsn@${hostname}>`,
      boundary: `=_sluice_dsn_${id}_${randomBytes(6).toString('hex')}`,
      queueId: rec.id,
      arrivalDate: new Date(rec.receivedAt),
      envid: rec.dsn?.envid ?? null,
      recipients,
      originalHeaders: original.headers,
      originalFull: original.full,
    });
    const route = selectRoute(model, domainOf(rec.mailFrom));
    const rcpt: RcptState = {
      address: rec.mailFrom,
      route: { kind: route.kind, connector: route.kind === 'connector' ? route.connector.name : null, rule: route.rule },
      status: 'pending',
      attempts: 0,
      lastError: null,
      lastHost: null,
      updatedAt: now,
    };
    const dsn: SpoolRecord = {
      v: 1,
      id,
      receivedAt: now,
      sessionId: `dsn-${rec.id}`,
      client: { ip: '', helo: hostname, tls: false, inbound: null, matchedBy: `dsn for ${rec.id}` },
      mailFrom: '',
      messageId: `${id}.dsn@${hostname}`,
      size: raw.length,
      status: 'active',
      attempts: 0,
      nextAttemptAt: now,
      rcpts: [rcpt],
    };
    const body = await this.spool.create(id);
    try {
      await body.write(raw);
    } catch (err) {
      await body.abort();
      throw err;
    }
    await body.commit(dsn);
    track(
      recordEvent(rec, {
        kind: 'DSN',
        time: now,
        recipients: recipients.map((r) => r.address),
        reason: `DSN ${dsn.id} to ${rec.mailFrom}`,
        detail: {
          dsnId: id,
          to: rec.mailFrom,
          actions: recipients.map((r) => `${r.address}:${r.action}:${r.status}`),
          ret: original.full ? 'FULL' : 'HDRS',
          route: rcpt.route,
        },
      }),
    );
    return dsn;
  }
}
