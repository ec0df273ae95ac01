// Attachment fixtures for the file-type tests: a minimal PE executable header (what file-type and
// Windows recognise as an .exe), zip archives built by Python's zipfile (a real zip writer, not
// ours), and a multipart message carrying base64 attachments.
import { execFileSync } from 'node:child_process';

/** "MZ", e_lfanew at 0x3c pointing at "PE\0\0": enough for magic-byte detection. */
export function peExecutable(): Buffer {
  const b = Buffer.alloc(512);
  b.write('MZ', 0, 'latin1');
  b.writeUInt32LE(0x80, 0x3c);
  b.write('PE\0\0', 0x80, 'latin1');
  b.writeUInt16LE(0x14c, 0x84); // i386
  return b;
}

/** A zip with the given entries, written by /usr/bin/python3's zipfile (deflated). */
export function makeZip(entries: { name: string; content: Buffer }[]): Buffer {
  const script = [
    'import io, json, sys, zipfile, base64',
    'spec = json.load(sys.stdin)',
    'out = io.BytesIO()',
    'with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:',
    '    for e in spec: z.writestr(e["name"], base64.b64decode(e["b64"]))',
    'sys.stdout.buffer.write(out.getvalue())',
  ].join('\n');
  const input = JSON.stringify(entries.map((e) => ({ name: e.name, b64: e.content.toString('base64') })));
  return execFileSync('/usr/bin/python3', ['-c', script], { input, maxBuffer: 64 * 1024 * 1024 });
}

export function messageWithAttachments(opts: { from: string; to: string; subject: string; files: { name: string; type: string; content: Buffer }[] }): string {
  const lines = [
    `From: ${opts.from}`,
    `To: ${opts.to}`,
    `Subject: ${opts.subject}`,
    'MIME-Version: 1.0',
    'Content-Type: multipart/mixed; boundary="sluice-b1"',
    '',
    '--sluice-b1',
    'Content-Type: text/plain; charset=utf-8',
    '',
    'Please see the attached file.',
  ];
  for (const f of opts.files) {
    lines.push(
      '--sluice-b1',
      `Content-Type: ${f.type}; name="${f.name}"`,
      `Content-Disposition: attachment; filename="${f.name}"`,
      'Content-Transfer-Encoding: base64',
      '',
      ...(f.content.toString('base64').match(/.{1,76}/g) ?? []),
    );
  }
  lines.push('--sluice-b1--', '');
  return lines.join('\r\n');
}
