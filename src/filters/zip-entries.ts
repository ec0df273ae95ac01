// Lists a zip archive held in memory, one level deep, bounded: entry names and the first bytes
// of each entry (enough for magic-byte sniffing). Encrypted entries give their name only. Used by
// the file-type filter; never extracts to disk.
import yauzl from 'yauzl';

const MAX_ENTRIES = 1_000;
/** file-type needs at most ~4 KB to recognise a format. */
const HEAD_BYTES = 4_100;
/** Bytes inflated across all entries, so a zip bomb cannot make us work. */
const MAX_TOTAL_HEAD_BYTES = 4 * 1024 * 1024;

export interface ZipEntry {
  readonly name: string;
  readonly head: Buffer;
}

export interface ZipListing {
  readonly entries: readonly ZipEntry[];
  /** Set when the archive could not be read to its end (corrupt, too many entries). */
  readonly error: string | null;
}

export function listZip(buf: Buffer): Promise<ZipListing> {
  return new Promise((resolve) => {
    const entries: ZipEntry[] = [];
    let headTotal = 0;
    const done = (error: string | null) => resolve({ entries, error });
    yauzl.fromBuffer(buf, { lazyEntries: true, decodeStrings: true, validateEntrySizes: false }, (err, zip) => {
      if (err || !zip) return done(`not a readable zip archive (${err?.message ?? 'unknown'})`);
      zip.on('error', (e: Error) => done(`corrupt zip archive (${e.message})`));
      zip.on('end', () => done(null));
      zip.on('entry', (entry: yauzl.Entry) => {
        if (entries.length >= MAX_ENTRIES) {
          zip.close();
          return done(`more than ${MAX_ENTRIES} entries`);
        }
        const name = entry.fileName;
        const isDir = name.endsWith('/');
        const encrypted = (entry.generalPurposeBitFlag & 0x1) !== 0;
        if (isDir || encrypted || headTotal >= MAX_TOTAL_HEAD_BYTES) {
          if (!isDir) entries.push({ name, head: Buffer.alloc(0) });
          return zip.readEntry();
        }
        zip.openReadStream(entry, (e, stream) => {
          if (e || !stream) {
            entries.push({ name, head: Buffer.alloc(0) });
            return zip.readEntry();
          }
          const chunks: Buffer[] = [];
          let got = 0;
          let finished = false;
          const finish = () => {
            if (finished) return;
            finished = true;
            stream.destroy();
            headTotal += got;
            entries.push({ name, head: Buffer.concat(chunks).subarray(0, HEAD_BYTES) });
            zip.readEntry();
          };
          stream.on('data', (c: Buffer) => {
            chunks.push(c);
            got += c.length;
            if (got >= HEAD_BYTES) finish();
          });
          stream.on('end', finish);
          stream.on('error', finish);
        });
      });
      zip.readEntry();
    });
  });
}
