// Reads one exported EOP object property by property, so nothing is dropped unseen: each mapper
// `take`s what it maps, names what Sluice lacks with `unsupported`, and `finish` reports every
// property left over that carries a value, except PowerShell's and the directory's own metadata.

import { isObj, isSet, list, show } from './eop-values.js';

export type KeyPath = readonly (string | number)[];

/** A setting that was not imported: a warning on stderr and a comment at `path` in the output. */
export interface ImportNote {
  path: KeyPath;
  /** Who it belongs to, for the warning line: `inbound connector "Contoso"`. */
  subject: string;
  property: string;
  message: string;
}

/** A plain comment placed above `path` in the output (not a warning). */
export interface PathComment {
  path: KeyPath;
  text: string;
}

/** Identity, change tracking and session properties of every Exchange object: no settings. */
const METADATA = [
  'RunspaceId', 'PSComputerName', 'PSShowComputerName', 'PSSourceJobInstanceId', 'Identity', 'Id', 'Guid',
  'DistinguishedName', 'ObjectCategory', 'ObjectClass', 'WhenChanged', 'WhenCreated', 'WhenChangedUTC',
  'WhenCreatedUTC', 'OrganizationId', 'OriginatingServer', 'IsValid', 'ExchangeVersion', 'ObjectState',
  'ExchangeObjectId', 'AdminDisplayName', 'ImmutableId', 'OrganizationalUnitRoot', 'ObjectId',
];

export class Props {
  private readonly entries: Map<string, { key: string; value: unknown }>;

  constructor(
    obj: unknown,
    readonly subject: string,
    readonly path: KeyPath,
    private readonly notes: ImportNote[],
  ) {
    this.entries = new Map(Object.entries(isObj(obj) ? obj : {}).map(([key, value]) => [key.toLowerCase(), { key, value }]));
  }

  /** The value of `name` (any case), marked as handled. */
  take(name: string): unknown {
    const e = this.entries.get(name.toLowerCase());
    this.entries.delete(name.toLowerCase());
    return e?.value;
  }

  peek(name: string): unknown {
    return this.entries.get(name.toLowerCase())?.value;
  }

  note(property: string, message: string, path: KeyPath = this.path): void {
    this.notes.push({ path, subject: this.subject, property, message });
  }

  /** A property Sluice has no equivalent for: reported when it carries a value other than `unlessValue`. */
  unsupported(name: string, why: string, unlessValue?: (v: unknown) => boolean): void {
    const v = this.take(name);
    if (!isSet(v) || unlessValue?.(v)) return;
    this.note(name, `${name} (${show(v)}) is not supported by Sluice and was not imported: ${why}`);
  }

  /** Reports every property not taken that carries a value; `ignore` lists this kind's read-only state. */
  finish(ignore: readonly string[] = [], kind = 'a setting Sluice knows'): void {
    const skip = new Set([...METADATA, ...ignore].map((k) => k.toLowerCase()));
    for (const [lower, { key, value }] of this.entries) {
      if (skip.has(lower) || !isSet(value)) continue;
      this.note(key, `${key} (${show(value)}) is not ${kind} and was not imported`);
    }
    this.entries.clear();
  }
}

/** Objects of an export: `ConvertTo-Json` writes one object bare and several as an array. */
export const objectsOf = list;
