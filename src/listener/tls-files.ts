// Reads the listener's certificate, key and client CAs from disk and proves they make a TLS
// context before any server is given them, so a half-written renewal changes nothing.
import { readFileSync } from 'node:fs';
import tls from 'node:tls';
import type { Model } from '../domain/model.js';
import { SluiceError } from '../domain/errors.js';

export interface ServerTlsFiles {
  cert: Buffer;
  key: Buffer;
  ca: Buffer[] | undefined;
}

export function readServerTls(files: Model['server']['tls']): ServerTlsFiles {
  let cert: Buffer, key: Buffer, ca: Buffer[];
  try {
    cert = readFileSync(files.cert);
    key = readFileSync(files.key);
    ca = files.clientCa.map((f) => readFileSync(f));
  } catch (err) {
    // Never fall back to smtp-server's built-in key: STARTTLS with a key everyone has is worse than none.
    throw new SluiceError('E_TLS_CERT_MISSING', `cannot read TLS certificate: ${(err as Error).message}`);
  }
  const out = { cert, key, ca: ca.length ? ca : undefined };
  try {
    tls.createSecureContext(out);
  } catch (err) {
    throw new SluiceError('E_TLS_CERT_MISSING', `unusable TLS certificate ${files.cert} / key ${files.key}: ${(err as Error).message}`);
  }
  return out;
}
