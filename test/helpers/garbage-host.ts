// Misbehaving SMTP peers for fault tests, on raw sockets: 'nonsense' greets with text that is not
// SMTP and answers every line with more of it; 'close-mid-data' speaks SMTP up to DATA's 354, then
// drops the connection after the first bytes of the message. The stalling modes never close a
// connection themselves, so every close is the client giving up: 'black-hole' accepts TCP and never
// greets; 'stall-after-rcpt' answers up to RCPT and never answers DATA; 'stall-in-data' takes the
// message after 354 and never answers the final dot; 'stop-reading-data' stops reading the socket
// after the first bytes of the message (TCP backpressure). Counts connections, closes and commands.
import net from 'node:net';

export type GarbageMode = 'nonsense' | 'close-mid-data' | 'black-hole' | 'stall-after-rcpt' | 'stall-in-data' | 'stop-reading-data';

export interface GarbageHost {
  port: number;
  connections: number;
  /** Connections now open, and the most open at once. */
  open: number;
  maxOpen: number;
  /** Messages whose DATA had started when the connection was dropped. */
  cutInData: number;
  /** Message bytes read after 354, all connections (stalling modes). */
  dataBytes: number;
  /** Every command line received, upper-cased (stalling modes). */
  commands: string[];
  /** For each connection that ended: how long it lasted (ms) and the last command before the end. */
  ended: { ms: number; last: string | null; dataBytes: number }[];
  close(): Promise<void>;
}

const STALLING: readonly GarbageMode[] = ['black-hole', 'stall-after-rcpt', 'stall-in-data', 'stop-reading-data'];

export async function startGarbageHost(mode: GarbageMode, port = 0): Promise<GarbageHost> {
  const sockets = new Set<net.Socket>();
  const state: GarbageHost = { port: 0, connections: 0, open: 0, maxOpen: 0, cutInData: 0, dataBytes: 0, commands: [], ended: [], close };
  const server = net.createServer((socket) => {
    state.connections++;
    state.open++;
    state.maxOpen = Math.max(state.maxOpen, state.open);
    sockets.add(socket);
    socket.on('close', () => {
      state.open--;
      sockets.delete(socket);
    });
    socket.on('error', () => undefined);
    socket.setEncoding('latin1');
    if (STALLING.includes(mode)) return stall(socket, mode, state);
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

/** The stalling modes: SMTP up to the stage where the peer goes silent, never closing itself. */
function stall(socket: net.Socket, mode: GarbageMode, state: GarbageHost): void {
  const opened = Date.now();
  let last: string | null = null;
  let inData = false;
  let dataBytes = 0;
  let buf = '';
  socket.on('close', () => state.ended.push({ ms: Date.now() - opened, last, dataBytes }));
  if (mode === 'black-hole') return;
  socket.write('220 stall.test ESMTP\r\n');
  socket.on('data', (chunk: string) => {
    if (inData) {
      dataBytes += chunk.length;
      state.dataBytes += chunk.length;
      // stop-reading-data: the window closes on the sender; stall-in-data: the dot is never answered.
      if (mode === 'stop-reading-data') socket.pause();
      return;
    }
    buf += chunk;
    let nl;
    while ((nl = buf.indexOf('\n')) !== -1) {
      const line = buf.slice(0, nl).trim().toUpperCase();
      buf = buf.slice(nl + 1);
      state.commands.push(line);
      last = line;
      const verb = line.split(' ')[0];
      if (verb === 'EHLO') socket.write('250-stall.test\r\n250 8BITMIME\r\n');
      else if (verb === 'DATA') {
        if (mode === 'stall-after-rcpt') return;
        inData = true;
        socket.write('354 go ahead\r\n');
        dataBytes += buf.length;
        state.dataBytes += buf.length;
        return;
      } else if (verb === 'QUIT') socket.write('221 bye\r\n');
      else socket.write('250 ok\r\n');
    }
  });
}
