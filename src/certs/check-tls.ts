// Start-up check of the listener's TLS files: every file readable and the pair usable (the key
// matches the certificate, the PEM parses). Runs before the spool is touched, so a bad
// certificate stops the start before any delivery or listening socket.
import { readFile } from 'node:fs/promises';
import { createSecureContext } from 'node:tls';
import type { Model } from '../domain/model.js';
import { SluiceError } from '../domain/errors.js';

export async function checkServerTls(tls: Model['server']['tls']): Promise<void> {
  let cert: Buffer, key: Buffer, ca: Buffer[];
  try {
    // In order, so the error names the first file that is missing, as the listener's own check does.
    cert = await readFile(tls.cert);
    key = await readFile(tls.key);
    ca = [];
    for (const f of tls.clientCa) ca.push(await readFile(f));
  } catch (err) {
    // Same words as the listener's own check, which stays as the last line of defence.
    throw new SluiceError('E_TLS_CERT_MISSING', `cannot read TLS certificate: ${(err as Error).message}`, { cause: err });
  }
  try {
    createSecureContext({ cert, key, ...(ca.length ? { ca } : {}) });
  } catch (err) {
    throw new SluiceError('E_TLS_CERT_INVALID', `unusable TLS certificate ${tls.cert} / key ${tls.key}: ${(err as Error).message}`, { cause: err });
  }
}
