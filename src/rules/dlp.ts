// Simple DLP: EOP's built-in sensitive information types that mail-flow rules can look for
// (messageContainsDataClassifications). Each detector finds candidates with a pattern and keeps
// only those its checksum accepts, so a random 16-digit number is not a credit card.

export const DATA_CLASSIFICATIONS = [
  'Credit Card Number',
  'International Banking Account Number (IBAN)',
  'U.S. Social Security Number (SSN)',
] as const;
export type DataClassification = (typeof DATA_CLASSIFICATIONS)[number];

/** Luhn (mod 10) over a string of digits. */
export function luhn(digits: string): boolean {
  let sum = 0;
  for (let i = 0; i < digits.length; i++) {
    let d = digits.charCodeAt(digits.length - 1 - i) - 48;
    if (i % 2 === 1) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** The major brands' prefixes and lengths (Visa, Mastercard, Amex, Discover, JCB, Diners). */
function cardBrand(d: string): string | null {
  const n2 = Number(d.slice(0, 2));
  const n3 = Number(d.slice(0, 3));
  const n4 = Number(d.slice(0, 4));
  const n6 = Number(d.slice(0, 6));
  const len = d.length;
  if (d[0] === '4' && (len === 13 || len === 16 || len === 19)) return 'Visa';
  if (((n2 >= 51 && n2 <= 55) || (n4 >= 2221 && n4 <= 2720)) && len === 16) return 'Mastercard';
  if ((n2 === 34 || n2 === 37) && len === 15) return 'American Express';
  if ((n4 === 6011 || n2 === 65 || (n3 >= 644 && n3 <= 649) || (n6 >= 622126 && n6 <= 622925)) && len >= 16 && len <= 19) return 'Discover';
  if (n4 >= 3528 && n4 <= 3589 && len >= 16 && len <= 19) return 'JCB';
  if (((n3 >= 300 && n3 <= 305) || n2 === 36 || n2 === 38) && len >= 14 && len <= 19) return 'Diners Club';
  return null;
}

// 13–19 digits, optionally grouped by single spaces or dashes; not part of a longer number.
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d-])/g;

export function findCreditCards(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(CARD)) {
    const raw = m[0];
    // One separator style per number: "4111-1111 1111-1111" is not how cards are written.
    if (/-/.test(raw) && / /.test(raw)) continue;
    const d = raw.replace(/[ -]/g, '');
    if (cardBrand(d) && luhn(d)) out.push(d);
  }
  return out;
}

/** IBAN lengths per country (ISO 13616 registry, the SEPA countries and the common others). */
const IBAN_LENGTH: Record<string, number> = {
  AD: 24, AE: 23, AT: 20, BA: 20, BE: 16, BG: 22, BH: 22, BR: 29, CH: 21, CY: 28, CZ: 24, DE: 22, DK: 18, EE: 20,
  ES: 24, FI: 18, FO: 18, FR: 27, GB: 22, GI: 23, GL: 18, GR: 27, HR: 21, HU: 28, IE: 22, IL: 23, IS: 26, IT: 27,
  KW: 30, KZ: 20, LB: 28, LI: 21, LT: 20, LU: 20, LV: 21, MC: 27, MD: 24, ME: 22, MK: 19, MT: 31, MU: 30, NL: 18,
  NO: 15, PK: 24, PL: 28, PT: 25, QA: 29, RO: 24, RS: 22, SA: 24, SE: 24, SI: 19, SK: 24, SM: 27, TN: 24, TR: 26,
  UA: 29, VA: 22, XK: 20,
};

/** ISO 7064 mod 97-10 over the rearranged IBAN. */
export function ibanValid(iban: string): boolean {
  const s = iban.toUpperCase();
  if (IBAN_LENGTH[s.slice(0, 2)] !== s.length) return false;
  const moved = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of moved) {
    const v = ch >= 'A' && ch <= 'Z' ? String(ch.charCodeAt(0) - 55) : ch;
    for (const digit of v) rem = (rem * 10 + (digit.charCodeAt(0) - 48)) % 97;
  }
  return rem === 1;
}

// Two letters, two check digits, then 11–30 letters/digits, optionally in groups of four.
const IBAN = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Za-z0-9]){11,30}(?![A-Za-z0-9])/g;

export function findIbans(text: string): string[] {
  const out: string[] = [];
  for (const m of text.matchAll(IBAN)) {
    const compact = m[0].replace(/ /g, '');
    // A greedy match may swallow the word after the IBAN: try the country's length.
    const want = IBAN_LENGTH[compact.slice(0, 2)];
    if (want && compact.length >= want && ibanValid(compact.slice(0, want))) out.push(compact.slice(0, want));
  }
  return out;
}

// Formatted SSNs (dashes or spaces), which is what EOP's default confidence counts; the area,
// group and serial rules exclude numbers the SSA never issues.
const SSN = /(?<![\d-])(?!000|666|9\d\d)(\d{3})([- ])(?!00)\d{2}\2(?!0000)\d{4}(?![\d-])/g;

export function findSsns(text: string): string[] {
  return [...text.matchAll(SSN)].map((m) => m[0].replace(/\D/g, ''));
}

export function countClassification(name: string, text: string): number {
  switch (name.toLowerCase()) {
    case 'credit card number':
      return findCreditCards(text).length;
    case 'international banking account number (iban)':
      return findIbans(text).length;
    case 'u.s. social security number (ssn)':
      return findSsns(text).length;
    default:
      return 0;
  }
}
