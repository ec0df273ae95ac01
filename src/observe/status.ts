// The daemon's state as health checks and metrics see it: set by the shell (start, reload,
// drain, trace store), read by the admin listener's /readyz and /metrics. One object, so the
// parts that change it and the parts that report it need not know each other.

export interface DaemonStatus {
  listening: boolean;
  spoolLocked: boolean;
  /** The running config and when it was loaded. */
  config: { source: string | null; loadedAt: number | null };
  /** The last reload that failed, until one succeeds (file, line, key path in `errors`). */
  reloadFailure: { at: number; errors: string } | null;
  /** Settings changed in the file that apply only after a restart (key paths). */
  pendingRestart: string[];
  draining: boolean;
  /** Whether the trace store accepted its last write batch. */
  traceWritable: boolean;
  /** Cluster engines this replica cannot reach, with what it does instead (empty: not degraded). */
  clusterDegraded: Record<string, string>;
}

export const status: DaemonStatus = {
  listening: false,
  spoolLocked: false,
  config: { source: null, loadedAt: null },
  reloadFailure: null,
  pendingRestart: [],
  draining: false,
  traceWritable: true,
  clusterDegraded: {},
};
