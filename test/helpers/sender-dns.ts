// DNS and messages for the sender-filter tests: one DKIM key pair made per run, the SPF, DKIM,
// DMARC and DNSBL records dnsmasq serves for them, and messages signed with mailauth's signer.
// Client IPs are loopback addresses (127.0.0.x) so a test can bind its client socket to them.
import { generateKeyPairSync } from 'node:crypto';
import { dkimSign } from 'mailauth';
import type { DnsRecords } from './dnsmasq.js';

export const SENDER_IP = '127.0.0.2'; // permitted by every SPF record below
export const OTHER_IP = '127.0.0.3'; // permitted by none
export const DNSBL_LISTED_IP = '127.0.0.4';
export const DNSBL_ZONE = 'zen.dnsbl.test';
export const DEAD_ZONE = 'down.dnsbl.test';
export const SELECTOR = 'sel1';

export interface DkimKey {
  privateKey: string;
  /** The p= value: base64 SubjectPublicKeyInfo. */
  publicKey: string;
}

export function makeDkimKey(): DkimKey {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
    publicKey: publicKey.export({ type: 'spki', format: 'der' }).toString('base64'),
  };
}

const reversed = (ip: string) => ip.split('.').reverse().join('.');

/**
 * fabrikam.test: SPF permits SENDER_IP, signs with SELECTOR, DMARC p=reject.
 * woodgrove.test: SPF permits SENDER_IP, DMARC p=quarantine. relaxed.test: DMARC p=none.
 */
export function senderRecords(key: DkimKey): DnsRecords {
  const spf = `v=spf1 ip4:${SENDER_IP} -all`;
  return {
    localDomains: ['test'],
    txt: {
      'fabrikam.test': spf,
      [`${SELECTOR}._domainkey.fabrikam.test`]: `v=DKIM1; k=rsa; p=${key.publicKey}`,
      '_dmarc.fabrikam.test': 'v=DMARC1; p=reject',
      'woodgrove.test': spf,
      '_dmarc.woodgrove.test': 'v=DMARC1; p=quarantine',
      'relaxed.test': spf,
      '_dmarc.relaxed.test': 'v=DMARC1; p=none',
    },
    a: { [`${reversed(DNSBL_LISTED_IP)}.${DNSBL_ZONE}`]: '127.0.0.2' },
    deadZones: [DEAD_ZONE],
  };
}

export function plainMessage(from: string, to: string, subject: string, extraHeaders = ''): string {
  return (
    `From: <${from}>\r\nTo: <${to}>\r\nSubject: ${subject}\r\nDate: Tue, 01 Dec 2026 10:00:00 +0000\r\n` +
    `Message-ID: <${subject.replace(/\W/g, '')}.${Date.now()}@sender.test>\r\n${extraHeaders}\r\nHello from the sender tests.\r\n`
  );
}

/** The message with a DKIM-Signature by d=fabrikam.test, s=SELECTOR in front. */
export async function signedMessage(key: DkimKey, message: string): Promise<string> {
  // mailauth 4 takes the keys in signatureData (its top-level options are only defaults).
  const r = await dkimSign(message, { signatureData: [{ signingDomain: 'fabrikam.test', selector: SELECTOR, privateKey: key.privateKey }] } as never);
  if (r.errors.length || !r.signatures.startsWith('DKIM-Signature:')) throw new Error(`dkimSign: ${JSON.stringify(r.errors)}`);
  return r.signatures + message;
}
