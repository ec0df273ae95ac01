// Child-process entry for the Node STARTTLS sink: argv = port cert key; prints "mesg=N tls=M" lines
// (at most every 20 ms) so the parent counts the same way as with smtp-sink -c.
import { readFileSync } from 'node:fs';
import { startNodeSink } from './node-sink.js';

const [port, certPath, keyPath] = process.argv.slice(2);
let count = 0;
let tls = 0;
let dirty = false;
await startNodeSink(Number(port), readFileSync(certPath!, 'utf8'), readFileSync(keyPath!, 'utf8'), (secure) => {
  count++;
  if (secure) tls++;
  dirty = true;
});
process.stdout.write('ready\n');
setInterval(() => {
  if (dirty) process.stdout.write(`mesg=${count} tls=${tls}\n`);
  dirty = false;
}, 20);
