// Renders the trace header Sluice prepends to every accepted message (RFC 5321 §4.4), naming
// the inbound connector that identified the sender so the path is visible downstream, and the
// load balancer when the client came through one (PROXY protocol).

export interface ReceivedFacts {
  helo: string;
  ip: string;
  hostname: string;
  tls: boolean;
  cipher: string | null;
  queueId: string;
  connector: string | null;
  matchedBy: string | null;
  /** The load balancer that passed the connection on with a PROXY header; `ip` is the real client. */
  proxy?: string | null;
  singleRcpt: string | null;
  date: Date;
}

const clean = (s: string) => s.replace(/[()\\\r\n]/g, '').slice(0, 200);

export function rfc5322Date(d: Date): string {
  return d.toUTCString().replace(/GMT$/, '+0000');
}

export function receivedHeader(f: ReceivedFacts): string {
  const via = f.connector ? `inbound connector "${clean(f.connector)}" by ${f.matchedBy}` : 'anonymous';
  const proto = f.tls ? 'ESMTPS' : 'ESMTP';
  const tlsNote = f.tls && f.cipher ? ` (${clean(f.cipher)})` : '';
  const forPart = f.singleRcpt ? `\r\n\tfor <${clean(f.singleRcpt)}>` : '';
  return (
    `Received: from ${clean(f.helo) || 'unknown'} ([${f.ip}])\r\n` +
    (f.proxy ? `\t(via PROXY protocol from [${f.proxy}])\r\n` : '') +
    `\tby ${f.hostname} (Sluice) with ${proto}${tlsNote} id ${f.queueId}\r\n` +
    `\t(${via})${forPart};\r\n\t${rfc5322Date(f.date)}\r\n`
  );
}
