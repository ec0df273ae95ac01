// Misbehaving SMTP peers for fault tests, on raw sockets: 'nonsense' greets with text that is not
// SMTP and answers every line with more of it; 'close-mid-data' speaks SMTP up to DATA's 354, then
// drops the connection after the first bytes of the message. Counts connections and cut messages.
import net from 'node:net';

export type GarbageMode = 'nonsense' | 'close-mid-data';

export interface GarbageHost {
  port: number;
  connections: number;
  /** Messages whose DATA had started when the connection was dropped. */
  cutInData: number;
  close(): Promise<void>;
}

export async function startGarbageHost(mode: GarbageMode, port = 0): Promise<GarbageHost> {
  const sockets = new Set<net.Socket>();
  const state: GarbageHost = { port: 0, connections: 0, cutInData: 0, close };
  const server = net.createServer((socket) => {
    state.connections++;
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    if (mode === 'nonsense') {
      socket.write('HELLO FRIEND this is not an SMTP server\r\n');
      socket.on('data', () => socket.write('???? 999 banana\r\n'));
      return;
    }
    socket.write('220 garbage.test ESMTP\r\n');
    let inData = false;
    let buf = '';
    socket.on('data', (chunk: string) => {
      if (inData) {
        state.cutInData++;
        socket.destroy();
        return;
      }
      buf += chunk;
      let nl;
      while ((nl = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, nl).trim().toUpperCase();
        buf = buf.slice(nl + 1);
        if (line.startsWith('DATA')) {
          inData = true;
          socket.write('354 go ahead\r\n');
          if (buf.length) {
            state.cutInData++;
            socket.destroy();
          }
          return;
        }
        socket.write(line.startsWith('QUIT') ? '221 bye\r\n' : '250 ok\r\n');
      }
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  async function close(): Promise<void> {
    for (const s of sockets) s.destroy();
    await new Promise<void>((r) => server.close(() => r()));
  }
  return state;
}
