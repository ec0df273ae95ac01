// The message as it leaves Sluice, built from the spool stream at each delivery attempt: the
// outbound header trust boundary (org-headers.ts), lines limited to 998 octets (line-limit.ts),
// then, for originating mail, a DKIM signature over exactly these bytes (dkim-sign.ts), so the
// signature covers every header change. The spooled bytes are never changed.
// Called by delivery/deliver.ts; `source` is the spool's body stream factory.
import { Readable } from 'node:stream';
import type { Model, OutboundConnector } from '../../domain/model.js';
import type { SpoolRecord } from '../../queue/record.js';
import type { Logger } from '../../observe/log.js';
import { fromDomain, joinFields, splitFields } from './header-fields.js';
import { BodyLineLimiter, foldHeaderBlock } from './line-limit.js';
import { outboundOrgHeaders } from './org-headers.js';
import { DkimSigner, signingKeyFor } from './dkim-sign.js';

const HEADER_END = Buffer.from('\r\n\r\n');

interface Head {
  text: string;
  fromDomain: string | null;
}

/** The outgoing bytes: rewritten header block, then the body with long lines broken. */
async function* rewritten(source: Readable, cloudServices: boolean, onHead: (h: Head) => void): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buf: Buffer = Buffer.alloc(0);
  let tail: Buffer = Buffer.alloc(0);
  let found = false;
  for (;;) {
    const next = await it.next();
    if (next.done) break;
    buf = buf.length ? Buffer.concat([buf, next.value]) : next.value;
    const i = buf.indexOf(HEADER_END);
    if (i >= 0) {
      tail = buf.subarray(i + 2); // the blank line and the body
      buf = buf.subarray(0, i + 2);
      found = true;
      break;
    }
  }
  const fields = outboundOrgHeaders(splitFields(buf.toString('latin1')), cloudServices);
  const text = foldHeaderBlock(joinFields(fields));
  onHead({ text, fromDomain: fromDomain(fields) });
  yield Buffer.from(text, 'latin1');
  if (!found) return;
  const limiter = new BodyLineLimiter();
  yield* limiter.push(tail);
  for (;;) {
    const next = await it.next();
    if (next.done) break;
    yield* limiter.push(next.value);
  }
}

export class OutgoingMessages {
  private readonly signer = new DkimSigner();

  constructor(private readonly log?: Logger) {}

  /** A body factory for one connector: each call streams the message as that connector gets it. */
  body(model: Model, record: SpoolRecord, connector: OutboundConnector, source: () => Readable): () => Readable {
    const cloud = connector.cloudServicesMailEnabled;
    const self = this;
    return () =>
      Readable.from(
        (async function* () {
          let head: Head | null = null;
          const first = rewritten(source(), cloud, (h) => (head = h));
          // The head comes first; the signature, when one is due, goes in front of it.
          const headBytes = await first.next();
          const key = signingKeyFor(model, record, (head as Head | null)?.fromDomain ?? null);
          if (key) {
            const cacheKey = `${record.id}|${connector.name}|${cloud}`;
            try {
              yield Buffer.from(await self.signer.signature(key, cacheKey, () => Readable.from(rewritten(source(), cloud, () => undefined))), 'latin1');
            } catch (err) {
              // Unsigned mail is delivered rather than held forever; the log says why.
              self.log?.warn({ stage: 'deliver', queueId: record.id, domain: key.domain, selector: key.selector, err: (err as Error).message }, 'DKIM signing failed; sent unsigned');
            }
          }
          if (!headBytes.done) yield headBytes.value;
          yield* first;
        })(),
        { objectMode: false },
      );
  }
}
