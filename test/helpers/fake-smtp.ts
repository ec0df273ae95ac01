// A tiny raw SMTP server (net.Server) for behaviour smtp-server cannot produce: a STARTTLS
// response-injection attempt (plaintext after "220 Ready" in the same packet) and a broken TLS
// handshake. It records every command with its connection and TLS state, flags commands a client
// sent before the previous reply (a desynchronised client), and keeps the messages it accepted.
import net from 'node:net';
import tls from 'node:tls';
import type { Duplex } from 'node:stream';

export type StartTlsMode = 'normal' | 'inject' | 'break';

export interface FakeSmtpOptions {
  tls: { cert: string; key: string };
  mode: StartTlsMode;
  /** Sent right after "220 Ready\r\n" in the same write when mode is 'inject'. */
  injection?: string;
  /** Delay before answering EHLO over TLS, so a client fooled by an injected reply runs ahead. */
  tlsEhloDelayMs?: number;
}

export interface FakeCommand {
  conn: number;
  secure: boolean;
  line: string;
}

export interface FakeSmtp {
  port: number;
  commands: FakeCommand[];
  /** Commands received while the server still owed a reply (no PIPELINING is offered). */
  outOfTurn: FakeCommand[];
  messages: Array<{ conn: number; secure: boolean; mailFrom: string; rcptTo: string[]; data: string }>;
  connections: number;
  close(): Promise<void>;
}

export async function startFakeSmtp(opts: FakeSmtpOptions): Promise<FakeSmtp> {
  const state: FakeSmtp = { port: 0, commands: [], outOfTurn: [], messages: [], connections: 0, close };
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    serve(socket, ++state.connections, opts, state);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  state.port = (server.address() as net.AddressInfo).port;
  async function close(): Promise<void> {
    for (const s of sockets) s.destroy();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  }
  return state;
}

function serve(plain: net.Socket, conn: number, opts: FakeSmtpOptions, state: FakeSmtp): void {
  let stream: Duplex = plain;
  let secure = false;
  let buf = '';
  let owed = false; // a reply is due
  let inData = false;
  let data = '';
  let envelope = { mailFrom: '', rcptTo: [] as string[] };

  const reply = (text: string, delayMs = 0): void => {
    const send = () => {
      owed = false;
      stream.write(text);
    };
    if (delayMs) setTimeout(send, delayMs);
    else send();
  };
  const onData = (chunk: Buffer): void => {
    buf += chunk.toString('latin1');
    let nl: number;
    while ((nl = buf.indexOf('\r\n')) !== -1) {
      const line = buf.slice(0, nl);
      buf = buf.slice(nl + 2);
      if (inData) {
        if (line === '.') {
          inData = false;
          state.messages.push({ conn, secure, ...envelope, data });
          envelope = { mailFrom: '', rcptTo: [] };
          reply('250 2.0.0 Ok: queued\r\n');
        } else data += (line.startsWith('.') ? line.slice(1) : line) + '\r\n';
        continue;
      }
      const cmd = { conn, secure, line };
      state.commands.push(cmd);
      if (owed) state.outOfTurn.push(cmd);
      owed = true;
      if (handle(line) === 'stop') return;
    }
  };
  const handle = (line: string): 'stop' | void => {
    const verb = line.slice(0, 4).toUpperCase();
    if (verb === 'EHLO') {
      const caps = secure ? '250 8BITMIME\r\n' : '250-STARTTLS\r\n250 8BITMIME\r\n';
      return reply(`250-fake.test\r\n${caps}`, secure ? (opts.tlsEhloDelayMs ?? 0) : 0);
    }
    if (verb === 'STAR' && !secure) return startTls();
    if (verb === 'MAIL') {
      envelope.mailFrom = /<([^>]*)>/.exec(line)?.[1] ?? '';
      return reply('250 2.1.0 Ok\r\n');
    }
    if (verb === 'RCPT') {
      envelope.rcptTo.push(/<([^>]*)>/.exec(line)?.[1] ?? '');
      return reply('250 2.1.5 Ok\r\n');
    }
    if (verb === 'DATA') {
      inData = true;
      data = '';
      return reply('354 End data with <CR><LF>.<CR><LF>\r\n');
    }
    if (verb === 'QUIT') {
      reply('221 2.0.0 Bye\r\n');
      stream.end();
      return 'stop';
    }
    return reply('250 2.0.0 Ok\r\n'); // RSET, NOOP
  };
  const startTls = (): 'stop' => {
    plain.removeListener('data', onData);
    buf = ''; // RFC 3207: nothing sent before the handshake may be used after it
    if (opts.mode === 'break') {
      plain.write('220 2.0.0 Ready to start TLS\r\nthis is not a TLS handshake\r\n');
      plain.end();
      return 'stop';
    }
    const injected = opts.mode === 'inject' ? (opts.injection ?? '250 injected\r\n') : '';
    plain.write(`220 2.0.0 Ready to start TLS\r\n${injected}`);
    owed = false;
    const secured = new tls.TLSSocket(plain, { isServer: true, cert: opts.tls.cert, key: opts.tls.key });
    secured.on('error', () => undefined);
    secured.once('secure', () => {
      secure = true;
    });
    stream = secured;
    secured.on('data', onData);
    return 'stop';
  };
  plain.on('data', onData);
  reply('220 fake.test ESMTP\r\n');
}
