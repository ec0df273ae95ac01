// Stage `fileTypes` (EOP's common attachment filter, malwareFilter.enableFileFilter): every
// attachment is judged by its name and by its content (magic bytes, via `file-type`), so an .exe
// renamed .pdf is caught; zip archives are opened one level and their entries judged the same way.
// Blocked → 550 5.7.1 or quarantine type FileTypeBlock per fileTypeAction. A MIME parse that hit
// a limit is never read as clean: it takes the same action, with the limit as the reason.
import { fileTypeFromBuffer } from 'file-type';
import type { MalwareFilterModel } from '../config/sections/content.js';
import type { Model } from '../domain/model.js';
import { ACCEPT, type ContentContext, type Filter, type FilterFactory, type FilterVerdict, type MimePart } from './contract.js';
import { listZip } from './zip-entries.js';

/** One thing that was judged: an attachment, or an entry inside a zip attachment. */
export interface Inspected {
  readonly name: string | null;
  /** What the content's magic bytes say (file-type's extension), null when unknown. */
  readonly sniffed: string | null;
  /** "report.zip/setup.exe" for an archive entry. */
  readonly where: string;
}

export interface Blocked {
  readonly type: string;
  readonly where: string;
  readonly by: 'name' | 'content';
}

export function extensionOf(name: string | null): string | null {
  if (name === null) return null;
  const base = name.replace(/\\/g, '/').split('/').pop() ?? '';
  const dot = base.lastIndexOf('.');
  if (dot < 0 || dot === base.length - 1) return null;
  return base.slice(dot + 1).trim().toLowerCase();
}

/** Pure: the first reason one of `items` is blocked, or null. Content beats a harmless name. */
export function judge(items: readonly Inspected[], blocked: ReadonlySet<string>): Blocked | null {
  for (const it of items) {
    if (it.sniffed !== null && blocked.has(it.sniffed)) return { type: it.sniffed, where: it.where, by: 'content' };
    const ext = extensionOf(it.name);
    if (ext !== null && blocked.has(ext)) return { type: ext, where: it.where, by: 'name' };
  }
  return null;
}

export function fileTypeVerdict(hit: Blocked | null, action: MalwareFilterModel['fileTypeAction']): FilterVerdict {
  if (hit === null) return { ...ACCEPT, reason: 'no blocked file type' };
  const reason = `file type blocked (${hit.type})`;
  const evidence = { type: hit.type, attachment: hit.where, detectedBy: hit.by };
  if (action === 'Quarantine') return { action: { kind: 'quarantine', type: 'FileTypeBlock', reason }, reason, evidence };
  return { action: { kind: 'reject', code: 550, enhanced: '5.7.1', text: `Message rejected: ${reason}` }, reason, evidence };
}

const isAttachment = (p: MimePart): boolean =>
  p.filename !== null || p.disposition === 'attachment' || !/^(text\/(plain|html)|multipart\/)/.test(p.contentType);

async function sniff(content: Buffer): Promise<string | null> {
  if (content.length === 0) return null;
  return (await fileTypeFromBuffer(content))?.ext ?? null;
}

/** Everything the filter looks at in one MIME part: the part itself and, for a zip, its entries. */
export async function inspectPart(p: MimePart): Promise<{ items: Inspected[]; unreadable: string | null }> {
  const where = p.filename ?? `part ${p.path}`;
  const sniffed = await sniff(p.content);
  const items: Inspected[] = [{ name: p.filename, sniffed, where }];
  const looksZip = sniffed === 'zip' || extensionOf(p.filename) === 'zip';
  if (!looksZip) return { items, unreadable: null };
  if (p.truncated) return { items, unreadable: `${where} is too large to look inside` };
  const listing = await listZip(p.content);
  for (const e of listing.entries) items.push({ name: e.name, sniffed: await sniff(e.head), where: `${where}/${e.name}` });
  return { items, unreadable: listing.error === null ? null : `${where}: ${listing.error}` };
}

export function fileTypesFilter(cfg: MalwareFilterModel): Filter {
  const blocked = new Set(cfg.fileTypes);
  return {
    name: 'fileTypes',
    stage: 'fileTypes',
    onError: cfg.onError,
    async content(ctx: ContentContext): Promise<FilterVerdict> {
      const mime = await ctx.message.mime();
      const items: Inspected[] = [];
      let unreadable: string | null = mime.limited ? `the message could not be fully parsed (${mime.limitReason ?? 'limit'})` : null;
      for (const part of mime.parts.filter(isAttachment)) {
        const r = await inspectPart(part);
        items.push(...r.items);
        unreadable ??= r.unreadable;
      }
      const hit = judge(items, blocked);
      if (hit !== null || unreadable === null) return fileTypeVerdict(hit, cfg.fileTypeAction);
      return fileTypeVerdict({ type: 'uninspectable attachment', where: unreadable, by: 'content' }, cfg.fileTypeAction);
    },
  };
}

export const fileTypesFilters: FilterFactory = (model: Model) =>
  model.malwareFilter.enabled && model.malwareFilter.enableFileFilter ? [fileTypesFilter(model.malwareFilter)] : [];
