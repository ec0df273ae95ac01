// An independent DKIM verifier: Debian's python3-dkim (the library behind /usr/bin/dkimverify),
// run with the TXT record given by the test instead of a DNS lookup, so it works offline. It gets
// the message bytes on stdin and answers pass or fail; any other output is an error of the helper.
import { spawn } from 'node:child_process';

const PYTHON = '/usr/bin/python3'; // the PATH python3 may be a pyenv build without the dkim module
const VERIFY_TIMEOUT_MS = 15_000;

const SCRIPT = `
import sys, dkim
name, txt = sys.argv[1], sys.argv[2].encode()
def dnsfunc(q, timeout=5):
    q = q.decode() if isinstance(q, bytes) else q
    return txt if q.rstrip('.').lower() == name.lower() else None
msg = sys.stdin.buffer.read()
print('pass' if dkim.verify(msg, dnsfunc=dnsfunc) else 'fail')
`;

/** `record` is the value of the TXT record ("v=DKIM1; k=rsa; p=…") published at `name`. */
export function dkimVerify(message: Buffer, name: string, record: string): Promise<'pass' | 'fail'> {
  return new Promise((resolve, reject) => {
    const p = spawn(PYTHON, ['-c', SCRIPT, name, record], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const timer = setTimeout(() => p.kill('SIGKILL'), VERIFY_TIMEOUT_MS);
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.on('error', reject);
    p.on('close', (code) => {
      clearTimeout(timer);
      const verdict = out.trim();
      if (code === 0 && (verdict === 'pass' || verdict === 'fail')) resolve(verdict);
      else reject(new Error(`python3-dkim exited ${code}: ${out}${err}`));
    });
    p.stdin.end(message);
  });
}

/** The record value from `sluice dkim keygen` output: the quoted strings joined. */
export function txtValue(keygenLine: string): { name: string; value: string } {
  const m = /^(\S+) IN TXT (.*)$/.exec(keygenLine.trim());
  if (!m) throw new Error(`not a TXT record line: ${keygenLine}`);
  const value = [...m[2]!.matchAll(/"([^"]*)"/g)].map((x) => x[1]).join('');
  return { name: m[1]!, value };
}
