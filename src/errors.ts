/**
 * Every error mitmscope throws, each with a stable `code`. Tests assert codes, never messages.
 * Add a code here (with its description) before throwing it anywhere.
 */

export const ERROR_CODES = {
  MITM_ERR_CONFIG: 'an option has an invalid value',
  MITM_ERR_CA_CORRUPT: 'the CA files exist but cannot be read or do not match',
  MITM_ERR_CA_IO: 'the CA folder cannot be read or written',
  MITM_ERR_MINT: 'a leaf certificate could not be created',
  MITM_ERR_BAD_REQUEST: 'the client sent a request the proxy cannot parse or forward',
  MITM_ERR_CLIENT_TLS: 'the TLS handshake with the client failed',
  MITM_ERR_CLIENT_ABORTED: 'the client closed the connection before the exchange finished',
  MITM_ERR_UPSTREAM_DNS: 'the upstream host name could not be resolved',
  MITM_ERR_UPSTREAM_CONNECT: 'the TCP connection to the upstream server failed',
  MITM_ERR_UPSTREAM_TLS: 'the TLS handshake with the upstream server failed',
  MITM_ERR_UPSTREAM_TIMEOUT: 'the upstream server did not answer in time',
  MITM_ERR_UPSTREAM_RESET: 'the upstream server closed or reset the connection mid-exchange',
  MITM_ERR_UPSTREAM_PROTOCOL: 'the upstream server sent invalid HTTP',
  MITM_ERR_TLS_PARSE: 'bytes on a TLS connection could not be parsed as TLS',
  MITM_ERR_HAR_INVALID: 'a HAR file could not be parsed or lacks a required field',
  MITM_ERR_HAR_EXISTS: 'the HAR file already exists and would be overwritten',
  MITM_ERR_HAR_IO: 'the HAR file cannot be written',
  MITM_ERR_NOT_FOUND: 'the requested flow or resource does not exist',
  MITM_ERR_SESSION_IO: 'the session folder or its files cannot be created, read or written',
  MITM_ERR_SESSION_CORRUPT: 'the session database exists but cannot be opened as a mitmscope session',
  MITM_ERR_INTERRUPTED: 'the proxy stopped before the exchange finished (found when a session is reopened)',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Where in an exchange something failed; shown to users in 502/504 bodies and flows. */
export type FailureStage =
  | 'client-request'
  | 'client-tls'
  | 'dns'
  | 'connect'
  | 'upstream-tls'
  | 'upstream-request'
  | 'upstream-response'
  | 'client-response'
  | 'tunnel';

export class MitmError extends Error {
  readonly code: ErrorCode;
  constructor(code: ErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'MitmError';
    this.code = code;
  }
}

export class ConfigError extends MitmError {
  constructor(message: string) {
    super('MITM_ERR_CONFIG', message);
    this.name = 'ConfigError';
  }
}

export class CaError extends MitmError {
  readonly file: string;
  constructor(code: 'MITM_ERR_CA_CORRUPT' | 'MITM_ERR_CA_IO', file: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'CaError';
    this.file = file;
  }
}

/** A failure on the way to or from the upstream server; `stage` says where. */
export class UpstreamError extends MitmError {
  readonly stage: FailureStage;
  readonly host: string;
  constructor(code: ErrorCode, stage: FailureStage, host: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'UpstreamError';
    this.stage = stage;
    this.host = host;
  }
}

export class HarError extends MitmError {
  constructor(code: 'MITM_ERR_HAR_INVALID' | 'MITM_ERR_HAR_EXISTS' | 'MITM_ERR_HAR_IO', message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'HarError';
  }
}

/** The session store cannot use its folder or files; `path` names the one at fault. */
export class StoreError extends MitmError {
  readonly path: string;
  constructor(code: 'MITM_ERR_SESSION_IO' | 'MITM_ERR_SESSION_CORRUPT', path: string, message: string, options?: { cause?: unknown }) {
    super(code, message, options);
    this.name = 'StoreError';
    this.path = path;
  }
}

export function isMitmError(err: unknown): err is MitmError {
  return err instanceof MitmError;
}
