// A counting SMTP sink with STARTTLS, for the TLS cases (smtp-sink has no TLS). Like smtp-sink it
// throws messages away and counts each "<CRLF>.<CRLF>"; it supports PIPELINING and answers each
// batch of commands in one write. Runs in its own process (bench/node-sink-main.ts) so that its
// CPU is not the bench's.
import { createServer, type Server, type Socket } from 'node:net';
import { TLSSocket, createSecureContext, type SecureContext } from 'node:tls';

const EHLO_REPLY = '250-sink.bench.example\r\n250-PIPELINING\r\n250-8BITMIME\r\n250-SIZE 1073741824\r\n';

export function startNodeSink(port: number, cert: string, key: string, onMessage: (secure: boolean) => void): Promise<Server> {
  const ctx = createSecureContext({ cert, key });
  const server = createServer((sock) => serve(sock, ctx, false, onMessage));
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host: '127.0.0.1', port, backlog: 1024 }, () => resolve(server));
  });
}

function serve(sock: Socket | TLSSocket, ctx: SecureContext, secure: boolean, onMessage: (secure: boolean) => void): void {
  sock.setNoDelay(true);
  sock.on('error', () => sock.destroy());
  let inData = false;
  let line = '';
  let tail = ''; // last bytes of DATA, to find "\r\n.\r\n" split across chunks
  if (!secure) sock.write('220 sink.bench.example ESMTP\r\n');
  const onData = (chunk: Buffer) => {
    let out = '';
    let i = 0;
    while (i < chunk.length) {
      if (inData) {
        const s = tail + chunk.toString('latin1', i);
        const end = s.indexOf('\r\n.\r\n');
        if (end < 0) {
          tail = s.slice(-4);
          return void (out && sock.write(out));
        }
        const consumed = end + 5 - tail.length;
        i += consumed;
        inData = false;
        tail = '';
        onMessage(secure);
        out += '250 2.0.0 queued\r\n';
        continue;
      }
      const nl = chunk.indexOf(10, i);
      if (nl < 0) {
        line += chunk.toString('latin1', i);
        break;
      }
      const cmd = (line + chunk.toString('latin1', i, nl)).trim();
      line = '';
      i = nl + 1;
      const verb = cmd.slice(0, 4).toUpperCase();
      if (verb === 'EHLO') out += EHLO_REPLY + (secure ? '250 HELP\r\n' : '250 STARTTLS\r\n');
      else if (verb === 'HELO') out += '250 sink.bench.example\r\n';
      else if (verb === 'STAR' && !secure) {
        sock.write(out + '220 2.0.0 go ahead\r\n');
        sock.removeListener('data', onData);
        const t = new TLSSocket(sock, { isServer: true, secureContext: ctx });
        serve(t, ctx, true, onMessage);
        return;
      } else if (verb === 'DATA') {
        out += '354 go ahead\r\n';
        inData = true;
        tail = '\r\n'; // the blank line before "." may be the DATA line's own CRLF
      } else if (verb === 'QUIT') {
        sock.end(out + '221 2.0.0 bye\r\n');
        return;
      } else out += '250 2.0.0 ok\r\n';
    }
    if (out) sock.write(out);
  };
  sock.on('data', onData);
}
