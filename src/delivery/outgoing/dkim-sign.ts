// DKIM signing of originating mail (issue 9): mail that came in through an OnPremises inbound
// connector and whose From: domain has an enabled key in dkimSigning is signed rsa-sha256,
// relaxed/relaxed, with mailauth over the bytes outgoing.ts sends. The signature is kept per
// message and connector, so a retry or the next smart host sends the same signature without
// hashing the message again.
import type { Readable } from 'node:stream';
import { dkimSign } from 'mailauth/lib/dkim/sign.js';
import type { Model } from '../../domain/model.js';
import type { DkimKey } from '../../config/sections/signing.js';
import type { SpoolRecord } from '../../queue/record.js';

/** Signatures kept for retries; a bound, not a tuning knob (a signature is ~500 bytes). */
const SIGNATURE_CACHE_ENTRIES = 10_000;

/** Whether any key could sign this message (originating mail, an enabled key), before its From: domain is known. */
export function maySign(model: Model, record: SpoolRecord): boolean {
  if (!model.dkimSigning.some((k) => k.enabled)) return false;
  const inbound = record.client.inbound === null ? null : model.inboundConnectors.find((c) => c.name === record.client.inbound);
  return inbound?.connectorType === 'OnPremises';
}

/** The key to sign this message with, or null: only originating mail, only an enabled key of its From domain. */
export function signingKeyFor(model: Model, record: SpoolRecord, fromDomain: string | null): DkimKey | null {
  if (!fromDomain || !maySign(model, record)) return null;
  return model.dkimSigning.find((k) => k.enabled && k.domain === fromDomain) ?? null;
}

export class DkimSigner {
  private readonly cache = new Map<string, string>();

  /** The DKIM-Signature header (CRLF-terminated) for the message `open()` streams. */
  async signature(key: DkimKey, cacheKey: string, open: () => Readable): Promise<string> {
    const id = `${cacheKey}|${key.domain}|${key.selector}|${key.keyFile}`;
    const hit = this.cache.get(id);
    if (hit !== undefined) return hit;
    // mailauth reads the keys from signatureData (its typings also list them at the top level, which it ignores).
    const options = {
      canonicalization: 'relaxed/relaxed',
      algorithm: 'rsa-sha256',
      signatureData: [{ signingDomain: key.domain, selector: key.selector, privateKey: key.privateKeyPem }],
    } as unknown as Parameters<typeof dkimSign>[1];
    const result = await dkimSign(open(), options);
    const first = result.errors?.[0] as { error?: Error; message?: string } | undefined;
    if (first) throw first instanceof Error ? first : new Error(first.error?.message ?? first.message ?? 'signing failed');
    if (!result.signatures.trim()) throw new Error('mailauth returned no signature');
    if (this.cache.size >= SIGNATURE_CACHE_ENTRIES) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(id, result.signatures);
    return result.signatures;
  }
}
