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
  MITM_ERR_HEADERS_TOO_LARGE: 'the client sent request headers larger than the limit',
  MITM_ERR_CLIENT_TIMEOUT: 'the client did not send its request headers in time',
  MITM_ERR_API_BAD_INPUT: 'a dashboard API request has a malformed parameter or body',
  MITM_ERR_AUTH_TOKEN: 'a dashboard request lacks the token (or carries a wrong one)',
  MITM_ERR_AUTH_HOST: 'a dashboard request names a Host the dashboard does not answer to',
  MITM_ERR_AUTH_ORIGIN: 'a state-changing dashboard request or live-feed upgrade came from a foreign Origin',
  MITM_ERR_TOO_LARGE: 'a request body is larger than the limit (a dashboard upload, or a request held for a rule)',
  MITM_ERR_KEYLOG_IO: 'the --keylog file cannot be opened for writing',
  MITM_ERR_METHOD_NOT_ALLOWED: 'the CA page was asked for something other than GET or HEAD',
  MITM_ERR_INTERNAL: 'mitmscope hit a state it should never be in (a bug)',
  MITM_ERR_SESSION_IO: 'the session folder or its files cannot be created, read or written',
  MITM_ERR_SESSION_CORRUPT: 'the session database exists but cannot be opened as a mitmscope session',
  MITM_ERR_H2_PROTOCOL: 'an HTTP/2 peer sent bytes that are not valid HTTP/2 (answered with GOAWAY)',
  MITM_ERR_H2_STREAM_RESET: 'an HTTP/2 stream was reset (RST_STREAM) before the exchange finished',
  MITM_ERR_INTERRUPTED: 'the proxy stopped before the exchange finished (found when a session is reopened)',
  MITM_ERR_RULE_INVALID: 'a rule (or rules file) is malformed: the error names the index, field and reason',
  MITM_ERR_RULES_IO: 'the rules file cannot be read or written',
  MITM_ERR_EDIT_INVALID: 'edits to a paused or resent exchange are malformed',
  MITM_ERR_NOT_PAUSED: 'the flow is not paused at a breakpoint',
  MITM_ERR_CANNOT_REPLAY: 'the flow cannot be sent again (not HTTP, or its captured body is incomplete)',
  MITM_ERR_ABORTED: 'the exchange was aborted in mitmscope (a rule or the breakpoint editor)',
  MITM_ERR_PAUSE_TIMEOUT: 'a paused exchange was not resumed within --pause-timeout',
} as const;

export type ErrorCode = keyof typeof ERROR_CODES;

/** Nginx's non-standard status for a request the client abandoned; only ever logged, the client is gone. */
const CLIENT_CLOSED_REQUEST = 499;

/**
 * The HTTP status each code is answered with, wherever it is answered (HTTP forwarding, WebSocket
 * upgrades, tunnels, the dashboard): timeouts are 504, every other upstream failure is 502,
 * whatever the client got wrong is 4xx. Codes only seen at start-up still get a status (500) so
 * the table is total and a new code cannot be forgotten.
 */
const STATUS_FOR: Readonly<Record<ErrorCode, number>> = {
  MITM_ERR_CONFIG: 500,
  MITM_ERR_CA_CORRUPT: 500,
  MITM_ERR_CA_IO: 500,
  MITM_ERR_MINT: 500,
  MITM_ERR_BAD_REQUEST: 400,
  MITM_ERR_CLIENT_TLS: 400,
  MITM_ERR_CLIENT_ABORTED: CLIENT_CLOSED_REQUEST,
  MITM_ERR_UPSTREAM_DNS: 502,
  MITM_ERR_UPSTREAM_CONNECT: 502,
  MITM_ERR_UPSTREAM_TLS: 502,
  MITM_ERR_UPSTREAM_TIMEOUT: 504,
  MITM_ERR_UPSTREAM_RESET: 502,
  MITM_ERR_UPSTREAM_PROTOCOL: 502,
  MITM_ERR_TLS_PARSE: 400,
  MITM_ERR_HAR_INVALID: 400,
  MITM_ERR_HAR_EXISTS: 409,
  MITM_ERR_HAR_IO: 500,
  MITM_ERR_NOT_FOUND: 404,
  MITM_ERR_HEADERS_TOO_LARGE: 431,
  MITM_ERR_CLIENT_TIMEOUT: 408,
  MITM_ERR_API_BAD_INPUT: 400,
  MITM_ERR_AUTH_TOKEN: 401,
  MITM_ERR_AUTH_HOST: 403,
  MITM_ERR_AUTH_ORIGIN: 403,
  MITM_ERR_TOO_LARGE: 413,
  MITM_ERR_KEYLOG_IO: 500,
  MITM_ERR_METHOD_NOT_ALLOWED: 405,
  MITM_ERR_INTERNAL: 500,
  MITM_ERR_SESSION_IO: 500,
  MITM_ERR_SESSION_CORRUPT: 500,
  MITM_ERR_H2_PROTOCOL: 400,
  MITM_ERR_H2_STREAM_RESET: 502,
  // A flow recorded as interrupted never reached a client answer: the proxy was gone.
  MITM_ERR_INTERRUPTED: 502,
  MITM_ERR_RULE_INVALID: 400,
  MITM_ERR_RULES_IO: 500,
  MITM_ERR_EDIT_INVALID: 400,
  MITM_ERR_NOT_PAUSED: 409,
  MITM_ERR_CANNOT_REPLAY: 409,
  MITM_ERR_ABORTED: 502,
  MITM_ERR_PAUSE_TIMEOUT: 504,
};

export function statusFor(code: ErrorCode): number {
  return STATUS_FOR[code];
}

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
  | 'tunnel'
  /** Stopped by mitmscope itself: an abort rule, an abort or timeout at a breakpoint. */
  | 'intercept';

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
  /**
   * HAR connection phases (ms, -1 = never ran) measured up to the failure, including the time
   * spent in the failing phase; set by the upstream connector so a failed flow's waterfall is true.
   */
  phases: { dns: number; connect: number; ssl: number } | null = null;
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

/** A malformed rule or edit: which one (`index` in a list), which field, and why. */
export class FieldError extends MitmError {
  readonly index: number | null;
  readonly field: string;
  readonly reason: string;
  constructor(code: 'MITM_ERR_RULE_INVALID' | 'MITM_ERR_EDIT_INVALID', index: number | null, field: string, reason: string) {
    super(code, `${index === null ? '' : `rule ${index}: `}${field}: ${reason}`);
    this.name = 'FieldError';
    this.index = index;
    this.field = field;
    this.reason = reason;
  }
}

export function isMitmError(err: unknown): err is MitmError {
  return err instanceof MitmError;
}
