// Human units in the config: sizes ("35MB") become bytes, durations ("30s") become milliseconds.
// Pure; both throw a plain Error with a human message that the schema reports with its key path.
// Sizes are binary: 1KB = 1KiB = 1,024 bytes, 1MB = 1MiB = 1,048,576 bytes (2^20), 1GB = 2^30.

/** Binary multipliers: Exchange's "35MB" message size limit means 35 × 2^20 bytes, so we follow it. */
const SIZE_UNITS: Readonly<Record<string, number>> = {
  b: 1,
  kb: 1024,
  kib: 1024,
  mb: 1024 ** 2,
  mib: 1024 ** 2,
  gb: 1024 ** 3,
  gib: 1024 ** 3,
};

const DURATION_UNITS_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1_000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
};

const AMOUNT = /^(\d+(?:\.\d+)?)\s*([a-z]*)$/i;

function parseAmount(input: number | string, units: Readonly<Record<string, number>>, bare: string, what: string): number {
  if (typeof input === 'number') {
    if (!Number.isFinite(input) || input < 0) throw new Error(`${input} is not a valid ${what}`);
    return Math.round(input * (units[bare] ?? 1));
  }
  const m = AMOUNT.exec(String(input).trim());
  const unit = (m?.[2] ?? '').toLowerCase() || bare;
  const factor = units[unit];
  if (!m || factor === undefined) {
    const names = Object.keys(units).join(', ');
    throw new Error(`"${input}" is not a valid ${what} (a number followed by one of: ${names})`);
  }
  const value = Math.round(Number(m[1]) * factor);
  if (!Number.isSafeInteger(value)) throw new Error(`"${input}" is too large`);
  return value;
}

/** "35MB", "512KB", "1GB", "100B", "2MiB" or a plain number of bytes → bytes. Case-insensitive. */
export function parseSize(input: number | string): number {
  return parseAmount(input, SIZE_UNITS, 'b', 'size');
}

/** "500ms", "30s", "5m", "24h", "2d" or a plain number of seconds → milliseconds. */
export function parseDuration(input: number | string): number {
  return parseAmount(input, DURATION_UNITS_MS, 's', 'duration');
}
