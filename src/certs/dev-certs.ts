// Development certificates for the embedded try-out config: a local CA and a server cert it signs.
// Called by the daemon at start-up only for the dev config; production configs never get generated certs.
// Never overwrites: only missing files are written; a half-present server pair is an error, not a guess.
import { constants } from 'node:fs';
import { access, mkdir, readFile, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { createCa, createCert, type Pem } from './generate.js';

export interface DevCertificatePaths {
  cert: string;
  key: string;
  ca: string;
}

const KEY_FILE_MODE = 0o600;
const CERT_FILE_MODE = 0o644;
const DEV_CA_CN = 'Sluice Development CA';

/** The CA key lives next to the CA certificate so a later run can sign with the same CA. */
export function devCaKeyPath(caPath: string): string {
  return join(dirname(caPath), 'ca.key');
}

/**
 * Creates whatever of the dev CA and server certificate is missing.
 * Returns true when it wrote anything, false when every file was already there.
 */
export async function ensureDevCertificates(paths: DevCertificatePaths, hostname: string): Promise<boolean> {
  const caKeyPath = devCaKeyPath(paths.ca);
  const [haveCert, haveKey, haveCa, haveCaKey] = await Promise.all(
    [paths.cert, paths.key, paths.ca, caKeyPath].map(exists),
  );
  if (haveCert && haveKey && haveCa) return false;
  if (haveCert !== haveKey) {
    // A new key would not match the existing certificate (or vice versa); refuse rather than pair them.
    const [present, missing] = haveCert ? [paths.cert, paths.key] : [paths.key, paths.cert];
    throw new Error(`${missing} is missing but ${present} exists; remove ${present} to regenerate the pair`);
  }

  let ca: Pem | undefined;
  if (haveCa && haveCaKey) {
    ca = { cert: await readFile(paths.ca, 'utf8'), key: await readFile(caKeyPath, 'utf8') };
  } else if (!haveCa) {
    ca = createCa(DEV_CA_CN);
    await writeNew(paths.ca, ca.cert, CERT_FILE_MODE);
    // An existing ca.key without ca.crt is left alone; the new CA's key cannot go there.
    if (!haveCaKey) await writeNew(caKeyPath, ca.key, KEY_FILE_MODE);
  }

  if (!haveCert) {
    const sans = [...new Set([hostname, 'localhost', '127.0.0.1'])];
    // With a CA certificate but no CA key we cannot sign: fall back to self-signed.
    // usage 'both' so the same pair can serve as Sluice's outbound client certificate in a dev setup.
    const server = createCert({ ca, cn: hostname, sans, usage: 'both' });
    await writeNew(paths.key, server.key, KEY_FILE_MODE);
    await writeNew(paths.cert, server.cert, CERT_FILE_MODE);
  }
  return true;
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path, constants.F_OK);
    return true;
  } catch {
    return false;
  }
}

/** flag 'wx' makes the write fail rather than clobber a file that appeared meanwhile. */
async function writeNew(path: string, content: string, mode: number): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, content, { flag: 'wx', mode });
}
