// Config section: content filters backed by engines: `malwareFilter` (clamd, and EOP's common
// attachment filter) and `spamFilter` (rspamd, EOP's verdicts and actions) (issue 10).
// Owns its keys' schema, its part of the runtime Model and the cross-key checks on them, so
// features add config without touching the core schema (schema.ts spreads the keys, compile.ts
// spreads the model part, test/helpers/model-builder.ts uses the defaults).
import { isAbsolute } from 'node:path';
import { z } from 'zod';
import type { Config } from '../schema.js';
import type { Report } from '../compile.js';
import { duration, eopEnum, flag, parsed, section } from '../schema-parts.js';

export const MALWARE_ACTIONS = ['Reject', 'Quarantine'] as const;
export const SPAM_ACTIONS = ['MoveToJmf', 'AddXHeader', 'ModifySubject', 'Redirect', 'Delete', 'Quarantine', 'Reject', 'NoAction'] as const;
export const ON_ERROR = ['Tempfail', 'Accept'] as const;
export type SpamAction = (typeof SPAM_ACTIONS)[number];

/** The list; EOP's own default list is longer and can be written out here. */
export const DEFAULT_FILE_TYPES = ['exe', 'com', 'scr', 'js', 'vbs', 'jar', 'bat', 'cmd', 'ps1', 'iso', 'img', 'ace'];

/** rspamd symbols that say "bulk", with the BCL points each adds (sum capped at 9). */
export const DEFAULT_BULK_SYMBOLS: Record<string, number> = { PRECEDENCE_BULK: 4, MAILLIST: 3, HAS_LIST_UNSUB: 2 };

export type ClamdAddress = { readonly kind: 'tcp'; readonly host: string; readonly port: number } | { readonly kind: 'unix'; readonly path: string };

function parseClamdAddress(raw: string): ClamdAddress {
  const v = raw.trim();
  if (isAbsolute(v)) return { kind: 'unix', path: v };
  const m = /^(\[[^\]]+\]|[^:\s]+):(\d{1,5})$/.exec(v);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port < 1 || port > 65535) throw new Error(`"${raw}" must be host:port (as 127.0.0.1:3310) or an absolute unix socket path`);
  return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port };
}

function parseHttpUrl(raw: string): string {
  let u: URL;
  try {
    u = new URL(raw.trim());
  } catch {
    throw new Error(`"${raw}" is not a URL (as http://127.0.0.1:11333)`);
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') throw new Error(`"${raw}" must be an http:// or https:// URL`);
  return u.origin + u.pathname.replace(/\/+$/, '');
}

function parseAddress(raw: string): string {
  const v = raw.trim().toLowerCase();
  if (!/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(v)) throw new Error(`"${raw}" is not an email address`);
  return v;
}

function parseDomain(raw: string): string {
  const v = raw.trim().toLowerCase().replace(/^@/, '');
  if (!/^[a-z0-9-]+(\.[a-z0-9-]+)+$/.test(v)) throw new Error(`"${raw}" is not a domain (no wildcards, no trailing dot)`);
  return v;
}

function parseExtension(raw: string): string {
  const v = raw.trim().toLowerCase().replace(/^\*?\./, '');
  if (!/^[a-z0-9_-]{1,16}$/.test(v)) throw new Error(`"${raw}" is not a file type (an extension such as exe)`);
  return v;
}

/** "Name: value", or a bare header name that gets EOP's default text. */
function parseXHeader(raw: string): { name: string; value: string } {
  const m = /^([!-9;-~]+)\s*(?::\s*(.*))?$/.exec(raw.trim());
  if (!m) throw new Error(`"${raw}" must be "Header-Name: value" (or a header name)`);
  const value = (m[2] ?? '').trim();
  return { name: m[1]!, value: value === '' ? 'This message appears to be spam.' : value };
}

// prefault: the default is config input, parsed like what an admin writes (zod 4's `.default()`
// would return '30s' unparsed), and the JSON Schema shows the key as optional.
const withDefault = <T extends z.ZodTypeAny>(schema: T, input: unknown) => schema.prefault(input as never);

const addresses = () => withDefault(z.array(parsed(parseAddress)), []);
const domains = () => withDefault(z.array(parsed(parseDomain)), []);
const onError = () => withDefault(eopEnum(ON_ERROR), 'Tempfail');

const malwareSchema = z
  .object({
    enabled: flag(false),
    clamd: withDefault(parsed(parseClamdAddress), '127.0.0.1:3310'),
    action: withDefault(eopEnum(MALWARE_ACTIONS), 'Reject'),
    timeout: withDefault(duration, '30s'),
    enableFileFilter: flag(true),
    fileTypes: withDefault(z.array(parsed(parseExtension)), DEFAULT_FILE_TYPES),
    fileTypeAction: withDefault(eopEnum(MALWARE_ACTIONS), 'Reject'),
    onError: onError(),
  })
  .strict();

const spamSchema = z
  .object({
    enabled: flag(false),
    rspamd: section(
      z
        .object({
          url: withDefault(parsed(parseHttpUrl), 'http://127.0.0.1:11333'),
          timeout: withDefault(duration, '15s'),
        })
        .strict(),
    ),
    spamAction: withDefault(eopEnum(SPAM_ACTIONS), 'MoveToJmf'),
    highConfidenceSpamAction: withDefault(eopEnum(SPAM_ACTIONS), 'Quarantine'),
    bulkSpamAction: withDefault(eopEnum(SPAM_ACTIONS), 'MoveToJmf'),
    bulkThreshold: z.number().int().min(1).max(9).default(7),
    /** rspamd scores where EOP's verdicts start (rspamd's own add_header and reject defaults). */
    scoreThresholds: section(
      z
        .object({
          spam: z.number().default(6),
          highConfidenceSpam: z.number().default(15),
        })
        .strict(),
    ),
    bulkSymbols: z.record(z.string(), z.number().int().min(0).max(9)).default(DEFAULT_BULK_SYMBOLS),
    addXHeaderValue: withDefault(parsed(parseXHeader), 'X-This-Is-Spam: This message appears to be spam.'),
    modifySubjectValue: z.string().default('[SPAM] '),
    redirectToRecipients: addresses(),
    allowedSenders: addresses(),
    allowedSenderDomains: domains(),
    blockedSenders: addresses(),
    blockedSenderDomains: domains(),
    markAsSpamSpfRecordHardFail: flag(false),
    onError: onError(),
  })
  .strict();

/** zod shapes of this section's top-level keys (each may be left out: use `section()`). */
export const contentKeys = {
  malwareFilter: section(malwareSchema),
  spamFilter: section(spamSchema),
};

export type MalwareFilterModel = z.output<typeof malwareSchema>;
export type SpamFilterModel = z.output<typeof spamSchema>;

/** This section's part of the frozen runtime Model. */
export interface ContentModel {
  readonly malwareFilter: MalwareFilterModel;
  readonly spamFilter: SpamFilterModel;
}

export function compileContent(config: Config, report: Report, _warn: Report): ContentModel {
  const spam = config.spamFilter;
  for (const key of ['spamAction', 'highConfidenceSpamAction', 'bulkSpamAction'] as const) {
    if (spam[key] === 'Redirect' && spam.redirectToRecipients.length === 0) {
      report(['spamFilter', 'redirectToRecipients'], `${key}: Redirect needs at least one address in redirectToRecipients`);
    }
  }
  if (spam.scoreThresholds.highConfidenceSpam <= spam.scoreThresholds.spam) {
    report(['spamFilter', 'scoreThresholds', 'highConfidenceSpam'], 'highConfidenceSpam must be higher than spam');
  }
  if (config.malwareFilter.enableFileFilter && config.malwareFilter.fileTypes.length === 0 && config.malwareFilter.enabled) {
    report(['malwareFilter', 'fileTypes'], 'enableFileFilter: true needs at least one file type');
  }
  return { malwareFilter: config.malwareFilter, spamFilter: config.spamFilter };
}

/** The model part when every key is left out (for hand-built test models); the schema's defaults. */
export const CONTENT_DEFAULTS: ContentModel = {
  malwareFilter: {
    enabled: false,
    clamd: { kind: 'tcp', host: '127.0.0.1', port: 3310 },
    action: 'Reject',
    timeout: 30_000,
    enableFileFilter: true,
    fileTypes: DEFAULT_FILE_TYPES,
    fileTypeAction: 'Reject',
    onError: 'Tempfail',
  },
  spamFilter: {
    enabled: false,
    rspamd: { url: 'http://127.0.0.1:11333', timeout: 15_000 },
    spamAction: 'MoveToJmf',
    highConfidenceSpamAction: 'Quarantine',
    bulkSpamAction: 'MoveToJmf',
    bulkThreshold: 7,
    scoreThresholds: { spam: 6, highConfidenceSpam: 15 },
    bulkSymbols: DEFAULT_BULK_SYMBOLS,
    addXHeaderValue: { name: 'X-This-Is-Spam', value: 'This message appears to be spam.' },
    modifySubjectValue: '[SPAM] ',
    redirectToRecipients: [],
    allowedSenders: [],
    allowedSenderDomains: [],
    blockedSenders: [],
    blockedSenderDomains: [],
    markAsSpamSpfRecordHardFail: false,
    onError: 'Tempfail',
  },
};
