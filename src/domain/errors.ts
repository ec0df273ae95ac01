// The stable error catalogue: tests and scripts match these codes, never message text.
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_CONFIG_UNAVAILABLE'
  | 'E_SPOOL_WRITE'
  | 'E_SPOOL_CORRUPT'
  | 'E_SPOOL_LOCKED'
  | 'E_SPOOL_ADOPTED'
  | 'E_NODE_ID_IN_USE'
  | 'E_SPOOL_IO'
  | 'E_TLS_CERT_MISSING'
  | 'E_TLS_CERT_INVALID'
  | 'E_TLS_POLICY'
  | 'E_DELIVERY'
  | 'E_USAGE';

export class SluiceError extends Error {
  /** Facts for the log line (the pid holding a lock, the file that failed), beside the text. */
  readonly details: Record<string, unknown>;
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown; details?: Record<string, unknown> },
  ) {
    super(message, options);
    this.name = 'SluiceError';
    this.details = options?.details ?? {};
  }
}
