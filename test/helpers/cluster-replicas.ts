// Two Sluice replicas (child processes, own spools) sharing one throw-away PostgreSQL and one
// recording smart host, for the cluster tests of the shared trace and quarantine; plus the small
// pollers those tests share (a deadline, never a sleep standing in for a condition).
import { makeCertSet } from './certs.js';
import { startSmartHost, type SmartHost } from './smart-host.js';
import { startSluice, type SluiceProcess } from './sluice.js';
import { message, send } from './clients.js';
import { startPostgres, type PostgresServer } from './postgres.js';

const POLL_MS = 100;
export const CLUSTER_WAIT_MS = 20_000;

export interface TwoReplicas {
  postgres: PostgresServer;
  host: SmartHost;
  a: SluiceProcess;
  b: SluiceProcess;
  stop(): Promise<void>;
}

/** Replicas node-a and node-b with `patch` (config sections) on top of cluster mode and one smart-host connector. */
export async function startTwoReplicas(patch: Record<string, unknown> = {}): Promise<TwoReplicas> {
  const certs = await makeCertSet();
  const [postgres, host] = await Promise.all([startPostgres(), startSmartHost()]);
  const replica = (nodeId: string) =>
    startSluice({
      certs,
      patch: {
        cluster: { enabled: true, nodeId, postgres: { url: postgres.url } },
        outboundConnectors: [{ name: 'To on-prem', connectorType: 'OnPremises', allAcceptedDomains: true, smartHosts: [`127.0.0.1:${host.port}`] }],
        ...patch,
      },
    });
  const a = await replica('node-a');
  const b = await replica('node-b');
  return {
    postgres,
    host,
    a,
    b,
    async stop() {
      await Promise.all([a.stop(), b.stop()]);
      await host.close();
      await postgres.destroy();
    },
  };
}

export const sendVia = (r: SluiceProcess, subject: string, to = 'user@contoso.com') =>
  send({ port: r.port, from: 'sender@fabrikam.com', to: [to], raw: message({ from: 'sender@fabrikam.com', to, subject }), ignoreTLS: true });

/** Polls `probe` until it returns non-null, or throws naming `what` at the deadline. */
export async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = CLUSTER_WAIT_MS): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== null) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, POLL_MS));
  }
}

export const subjectOf = (raw: Buffer) => /^Subject: (.*)$/m.exec(raw.toString('latin1'))?.[1]?.trim();
