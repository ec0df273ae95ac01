// SMTP clients for integration tests: swaks (the Debian package, as an admin would use it)
// and nodemailer, both talking to the daemon over real loopback sockets.
import { spawn } from 'node:child_process';
import nodemailer from 'nodemailer';

export interface SwaksResult {
  code: number | null;
  output: string;
}

/** Runs swaks with a hard time limit; `args` are swaks flags, e.g. ['--to', 'a@b'] */
export function swaks(args: string[], timeoutMs = 20_000): Promise<SwaksResult> {
  return new Promise((resolve) => {
    const p = spawn('swaks', ['--timeout', '15', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    p.stdout.setEncoding('utf8').on('data', (c: string) => (output += c));
    p.stderr.setEncoding('utf8').on('data', (c: string) => (output += c));
    const timer = setTimeout(() => p.kill('SIGKILL'), timeoutMs);
    p.on('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** Server reply lines swaks printed ("<-", "<**", and over TLS "<~", "<~*"), without the arrows. */
const SWAKS_REPLY = /^<(-|\*\*|~\*?)\s+/;
export const replies = (r: SwaksResult): string[] =>
  r.output
    .split('\n')
    .filter((l) => SWAKS_REPLY.test(l))
    .map((l) => l.replace(SWAKS_REPLY, ''));

export interface SendOptions {
  port: number;
  localAddress?: string;
  from: string;
  to: string[];
  raw: string | Buffer;
  tls?: { cert?: string; key?: string; ca?: string };
  requireTLS?: boolean;
  ignoreTLS?: boolean;
}

/** Sends one raw message with nodemailer; resolves with its info or rejects with the SMTP error. */
export async function send(o: SendOptions): Promise<{ response: string; accepted: unknown[]; rejected: unknown[] }> {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: o.port,
    secure: false,
    ...(o.localAddress ? { localAddress: o.localAddress } : {}),
    requireTLS: o.requireTLS ?? Boolean(o.tls),
    ignoreTLS: o.ignoreTLS ?? false,
    tls: { rejectUnauthorized: false, ...(o.tls ?? {}) },
    connectionTimeout: 10_000,
    greetingTimeout: 10_000,
    socketTimeout: 20_000,
  } as Parameters<typeof nodemailer.createTransport>[0]);
  try {
    return (await transport.sendMail({ envelope: { from: o.from, to: o.to }, raw: o.raw })) as never;
  } finally {
    transport.close();
  }
}

export function message(opts: { from: string; to: string; subject: string; body?: string }): string {
  return (
    `From: <${opts.from}>\r\nTo: <${opts.to}>\r\nSubject: ${opts.subject}\r\n` +
    `Message-ID: <${Math.random().toString(36).slice(2)}@test>\r\nDate: ${new Date().toUTCString()}\r\n\r\n` +
    `${opts.body ?? 'Hello from the test.\r\n'}`
  );
}

/** The server's reply to the first client line starting with `command` (e.g. 'RCPT TO'), or null. */
export function replyTo(r: SwaksResult, command: string): string | null {
  const lines = r.output.split('\n');
  const i = lines.findIndex((l) => /^ [-~]> /.test(l) && l.slice(4).toUpperCase().startsWith(command.toUpperCase()));
  const reply = i === -1 ? undefined : lines.slice(i + 1).find((l) => SWAKS_REPLY.test(l));
  return reply ? reply.replace(SWAKS_REPLY, '') : null;
}
