// Config section: DKIM signing of outgoing mail: `dkimSigning` (issue 9).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
// The private keys are read here, so they are read at start and at every reload, and a missing,
// unreadable or malformed key file fails the load with its key path instead of at the first message.
import { createPrivateKey } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { z } from 'zod';
import { domainName, filePath, flag } from '../schema-parts.js';
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';

const SELECTOR = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)*$/i;

const dkimKeySchema = z
  .object({
    domain: domainName('signing domain'),
    selector: z.string().trim().regex(SELECTOR, 'a selector is one or more DNS labels, e.g. selector1'),
    privateKey: filePath,
    enabled: flag(true),
  })
  .strict();

/** zod shapes of this section's top-level keys (each may be left out: use `section()`). */
export const signingKeys = {
  dkimSigning: z.array(dkimKeySchema).default([]),
};

export interface DkimKey {
  readonly domain: string;
  readonly selector: string;
  /** Absolute path, for messages. */
  readonly keyFile: string;
  /** PEM text of the private key, read when the config was loaded. */
  readonly privateKeyPem: string;
  readonly enabled: boolean;
}

/** This section's part of the frozen runtime Model. */
export interface SigningModel {
  readonly dkimSigning: readonly DkimKey[];
}

/** Reads and checks one key file; reports at the entry's privateKey path. */
function readKey(file: string, at: (string | number)[], report: Report): string | null {
  let pem: string;
  try {
    pem = readFileSync(file, 'utf8');
  } catch (err) {
    report(at, `cannot read the DKIM private key "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    return null;
  }
  try {
    const key = createPrivateKey(pem);
    if (key.asymmetricKeyType !== 'rsa') {
      report(at, `"${file}" is a ${key.asymmetricKeyType ?? 'non-RSA'} key; Sluice signs rsa-sha256 and needs an RSA key`);
      return null;
    }
  } catch (err) {
    report(at, `"${file}" is not a PEM private key (${(err as Error).message})`);
    return null;
  }
  return pem;
}

export function compileSigning(config: Config, report: Report, _warn: Report): SigningModel {
  const seen = new Map<string, number>();
  const keys: DkimKey[] = [];
  config.dkimSigning.forEach((k, i) => {
    const id = k.domain;
    const prior = seen.get(id);
    if (k.enabled && prior !== undefined) {
      report(['dkimSigning', i, 'domain'], `${k.domain} already has an enabled key at dkimSigning[${prior}]; enable one key per domain`);
    }
    if (k.enabled) seen.set(id, i);
    const keyFile = resolve(process.cwd(), k.privateKey);
    // A disabled key is still read: enabling it later must not be the moment its file turns out missing.
    const pem = readKey(keyFile, ['dkimSigning', i, 'privateKey'], report);
    if (pem !== null) keys.push({ domain: k.domain, selector: k.selector.toLowerCase(), keyFile, privateKeyPem: pem, enabled: k.enabled });
  });
  return { dkimSigning: keys };
}

/** The model part when every key is left out (for hand-built test models). */
export const SIGNING_DEFAULTS: SigningModel = { dkimSigning: [] };
