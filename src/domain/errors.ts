// The stable error catalogue: tests and scripts match these codes, never message text.
export type ErrorCode =
  | 'E_CONFIG'
  | 'E_SPOOL_WRITE'
  | 'E_SPOOL_CORRUPT'
  | 'E_TLS_CERT_MISSING'
  | 'E_TLS_POLICY'
  | 'E_DELIVERY'
  | 'E_USAGE';

export class SluiceError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'SluiceError';
  }
}
