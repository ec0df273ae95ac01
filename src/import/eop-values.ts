// Pure readers for the values `Get-* | ConvertTo-Json` writes: the same setting arrives as a
// string, a number (an enum's numeric value) or a serialised .NET object (IPAddress, IPRange,
// SmartHost, SmtpDomainWithSubdomains, AddressSpace), depending on the PowerShell version and
// whether the session is remote. Each reader returns Sluice's spelling, or null when it cannot.
import ipaddr from 'ipaddr.js';

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Case-insensitive property lookup: exports are PascalCase, hand-edited ones may not be. */
export function prop(o: Obj, name: string): unknown {
  if (name in o) return o[name];
  const lower = name.toLowerCase();
  for (const [k, v] of Object.entries(o)) if (k.toLowerCase() === lower) return v;
  return undefined;
}

/** Whether a value is a setting at all: null, '', [] and false are EOP's "not set". */
export function isSet(v: unknown): boolean {
  if (v === null || v === undefined || v === false || v === '') return false;
  if (Array.isArray(v)) return v.length > 0;
  return true;
}

/** A scalar as text; an object by the property .NET's ToString() would show. */
export function text(v: unknown): string | null {
  if (typeof v === 'string') return v.trim() === '' ? null : v.trim();
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (!isObj(v)) return null;
  if (prop(v, 'IsStar') === true) return '*';
  for (const key of ['IPAddressToString', 'HostnameString', 'Address', 'SmartHost', 'Expression', 'Value', 'Name']) {
    const s = prop(v, key);
    if (typeof s === 'string' && s.trim()) return s.trim();
  }
  const domain = prop(v, 'Domain');
  const d = typeof domain === 'string' ? domain.trim() : text(domain);
  if (d) return prop(v, 'IncludeSubDomains') === true ? `*.${d}` : d;
  return null;
}

/** A multi-valued property: null is empty, a lone value is a list of one. */
export function list(v: unknown): unknown[] {
  if (v === null || v === undefined || v === '') return [];
  if (Array.isArray(v)) return v;
  // Windows PowerShell 5.1 wraps piped arrays as { value: [...], Count: n }.
  if (isObj(v) && Array.isArray(prop(v, 'value')) && prop(v, 'Count') !== undefined) return prop(v, 'value') as unknown[];
  return [v];
}

export function bool(v: unknown): boolean | null {
  if (typeof v === 'boolean') return v;
  if (v === 1 || v === 0) return v === 1;
  if (typeof v === 'string' && /^(true|false|\$true|\$false)$/i.test(v.trim())) return /true/i.test(v);
  return null;
}

/** An enum given by name (any case) or by its .NET numeric value. */
export function enumValue<T extends string>(v: unknown, names: readonly T[], numbers: Readonly<Record<number, T>>): T | null {
  if (typeof v === 'number') return numbers[v] ?? null;
  const s = text(v);
  if (s === null) return null;
  if (/^\d+$/.test(s)) return numbers[Number(s)] ?? null;
  return names.find((n) => n.toLowerCase() === s.toLowerCase()) ?? null;
}

/** "smtp:*;1", "SMTP:contoso.com;1", "contoso.com" or an AddressSpace object → "*" / "contoso.com"; null if not SMTP. */
export function addressSpace(v: unknown): string | null {
  const raw = isObj(v) ? (text(prop(v, 'Address')) ?? text(prop(v, 'AddressSpace')) ?? text(v)) : text(v);
  if (raw === null) return null;
  if (isObj(v)) {
    const type = text(prop(v, 'Type'));
    if (type && type.toLowerCase() !== 'smtp') return null;
  }
  const m = /^(?:([a-z0-9]+):)?(.*?)(?:;\d+)?$/i.exec(raw);
  if (!m || (m[1] && m[1].toLowerCase() !== 'smtp')) return null;
  return m[2]?.trim() || null;
}

function ipOf(v: unknown): ipaddr.IPv4 | ipaddr.IPv6 | null {
  const s = text(v);
  return s && ipaddr.isValid(s) ? ipaddr.process(s) : null;
}

/** An IP address, CIDR or range as Sluice writes it; IPRange objects by their bounds. */
export function ipText(v: unknown): string | null {
  if (!isObj(v) || prop(v, 'LowerBound') === undefined) return text(v);
  const lo = ipOf(prop(v, 'LowerBound'));
  const hi = ipOf(prop(v, 'UpperBound')) ?? lo;
  if (!lo || !hi || lo.kind() !== hi.kind()) return null;
  if (lo.toString() === hi.toString()) return lo.toString();
  const bits = Number(prop(v, 'CIDRLength'));
  if (Number.isInteger(bits) && bits > 0) {
    const cidr = `${lo.toString()}/${bits}`;
    try {
      const net = lo.kind() === 'ipv4' ? ipaddr.IPv4.broadcastAddressFromCIDR(cidr) : null;
      if (lo.kind() === 'ipv6' || net?.toString() === hi.toString()) return cidr;
    } catch {
      // not a CIDR block after all: fall through to a range
    }
  }
  return `${lo.toString()}-${hi.toString()}`;
}

/** A SmartHost: a host name, or an IP address (IsIPAddress) from its Address. */
export function smartHostText(v: unknown): string | null {
  if (!isObj(v)) return text(v);
  if (prop(v, 'IsIPAddress') === true) return text(prop(v, 'Address'));
  return text(prop(v, 'Domain')) ?? text(v);
}

/** A ByteQuantifiedSize: "10 MB (10,485,760 bytes)", a byte count, or an object with one. */
export function sizeBytes(v: unknown): number | null {
  if (typeof v === 'number') return v;
  if (isObj(v)) return sizeBytes(prop(v, 'Value') ?? prop(v, 'ToBytes') ?? text(v));
  const s = text(v);
  if (s === null) return null;
  const bytes = /\(([\d,.\s]+) bytes\)/i.exec(s);
  if (bytes?.[1]) return Number(bytes[1].replace(/[^\d]/g, ''));
  if (/^\d+$/.test(s)) return Number(s);
  const m = /^([\d.]+)\s*(B|KB|MB|GB)$/i.exec(s);
  if (!m?.[1] || !m[2]) return null;
  const unit = { b: 1, kb: 1024, mb: 1024 ** 2, gb: 1024 ** 3 }[m[2].toLowerCase() as 'b' | 'kb' | 'mb' | 'gb'];
  return Math.round(Number(m[1]) * unit);
}

export function integer(v: unknown): number | null {
  if (isObj(v)) return integer(prop(v, 'Value'));
  const s = typeof v === 'number' ? String(v) : text(v);
  if (s === null || !/^-?\d+$/.test(s)) return null;
  return Number(s);
}

/** Shows a value in a warning: short, on one line. */
export function show(v: unknown): string {
  const s = Array.isArray(v) ? v.map((x) => text(x) ?? String(JSON.stringify(x))).join(', ') : (text(v) ?? String(JSON.stringify(v)));
  return s.length > 120 ? `${s.slice(0, 117)}...` : s;
}

export { isObj };
