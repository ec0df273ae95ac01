// The message as it leaves Sluice, built from the spool stream at each delivery attempt: the
// outbound header trust boundary (org-headers.ts), lines limited to 998 octets (line-limit.ts),
// then, for originating mail, a DKIM signature over exactly these bytes (dkim-sign.ts), so the
// signature covers every header change. The spooled bytes are never changed.
// Called by delivery/deliver.ts; `source` is the spool's body stream factory.
import { Readable, Transform, type TransformCallback } from 'node:stream';
import type { Model, OutboundConnector } from '../../domain/model.js';
import type { SpoolRecord } from '../../queue/record.js';
import type { Logger } from '../../observe/log.js';
import { fromDomain, joinFields, splitFields, type RawField } from './header-fields.js';
import { BodyLineLimiter, foldHeaderBlock } from './line-limit.js';
import { outboundOrgHeaders } from './org-headers.js';
import { DkimSigner, maySign, signingKeyFor } from './dkim-sign.js';
import { ownedConcat, WholeBody } from '../../queue/whole-body.js';

const HEADER_END = Buffer.from('\r\n\r\n');
const EMPTY = Buffer.alloc(0);

/**
 * The outgoing bytes as a stream stage: the header block (collected up to its empty line) is
 * rewritten, then the body passes with long lines broken. The rewritten head goes out in one
 * Buffer with the body bytes of the same chunk: every Buffer is a socket write at the smart host.
 */
class OutgoingRewrite extends Transform {
  /** Header bytes while the empty line has not been seen; null once the head is out. */
  private pending: Buffer | null = EMPTY;
  private readonly limiter = new BodyLineLimiter();

  constructor(
    private readonly source: Readable,
    private readonly cloudServices: boolean,
    private readonly onHead?: (fields: readonly RawField[]) => void,
  ) {
    super();
  }

  override _destroy(err: Error | null, done: (err?: Error | null) => void): void {
    this.source.destroy(); // a delivery given up mid-body closes the spool file
    done(err);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.pending === null) return this.pushBody(chunk, done);
    const buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    const i = buf.indexOf(HEADER_END);
    if (i < 0) {
      this.pending = buf;
      return done();
    }
    this.pending = null;
    const head = rewriteHead(buf.subarray(0, i + 2), this.cloudServices, this.onHead);
    const body = this.limiter.push(buf.subarray(i + 2)); // the blank line and the body
    this.push(body.length === 1 ? Buffer.concat([head, body[0]!]) : Buffer.concat([head, ...body]));
    done();
  }

  override _flush(done: TransformCallback): void {
    // No empty line: the whole message is its header block, and no body follows.
    if (this.pending !== null) this.push(rewriteHead(this.pending, this.cloudServices, this.onHead));
    this.pending = null;
    done();
  }

  private pushBody(chunk: Buffer, done: TransformCallback): void {
    for (const b of this.limiter.push(chunk)) this.push(b);
    done();
  }
}

function rewriteHead(block: Buffer, cloudServices: boolean, onHead?: (fields: readonly RawField[]) => void): Buffer {
  const fields = outboundOrgHeaders(splitFields(block.toString('latin1')), cloudServices);
  onHead?.(fields);
  return Buffer.from(foldHeaderBlock(joinFields(fields)), 'latin1');
}

/**
 * The same rewrite as OutgoingRewrite's, of a body held whole: no Transform, and one copy into
 * bytes of its own, which the delivery thread's client may take without another.
 */
function rewrittenWhole(whole: Buffer, cloudServices: boolean, onHead?: (fields: readonly RawField[]) => void): WholeBody {
  const i = whole.indexOf(HEADER_END);
  if (i < 0) return new WholeBody(ownedConcat([rewriteHead(whole, cloudServices, onHead)]), true);
  const head = rewriteHead(whole.subarray(0, i + 2), cloudServices, onHead);
  return new WholeBody(ownedConcat([head, ...new BodyLineLimiter().push(whole.subarray(i + 2))]), true);
}

/** The outgoing bytes of `source`; destroying the result destroys the source (its file closes). */
function rewritten(source: Readable, cloudServices: boolean, onHead?: (fields: readonly RawField[]) => void): Readable {
  if (source instanceof WholeBody) return rewrittenWhole(source.whole, cloudServices, onHead);
  // Wired by hand: stream.pipeline() costs an AbortController and a DOMException per message.
  const out = new OutgoingRewrite(source, cloudServices, onHead);
  source.once('error', (err) => out.destroy(err));
  return source.pipe(out);
}

export class OutgoingMessages {
  private readonly signer = new DkimSigner();

  constructor(private readonly log?: Logger) {}

  /** A body factory for one connector: each call streams the message as that connector gets it. */
  body(model: Model, record: SpoolRecord, connector: OutboundConnector, source: () => Readable): () => Readable {
    const cloud = connector.cloudServicesMailEnabled;
    // Whether a signature can be due at all (the From: domain is only known from the head): if
    // not, the rewrite is the whole stream, without an async generator around it.
    if (!maySign(model, record)) return () => rewritten(source(), cloud);
    const self = this;
    return () =>
      Readable.from(
        (async function* () {
          let domain: string | null = null;
          const first = rewritten(source(), cloud, (fields) => (domain = fromDomain(fields)))[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
          // The head comes first; the signature, when one is due, goes in front of it.
          const headBytes = await first.next();
          const key = signingKeyFor(model, record, domain);
          if (key) {
            const cacheKey = `${record.id}|${connector.name}|${cloud}`;
            try {
              yield Buffer.from(await self.signer.signature(key, cacheKey, () => rewritten(source(), cloud)), 'latin1');
            } catch (err) {
              // Unsigned mail is delivered rather than held forever; the log says why.
              self.log?.warn({ stage: 'deliver', queueId: record.id, domain: key.domain, selector: key.selector, err: (err as Error).message }, 'DKIM signing failed; sent unsigned');
            }
          }
          if (!headBytes.done) yield headBytes.value;
          for (;;) {
            const next = await first.next();
            if (next.done) break;
            yield next.value;
          }
        })(),
        { objectMode: false },
      );
  }
}
