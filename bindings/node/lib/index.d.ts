// vap-openemr: reach a practice's OpenEMR from Node through the vap_openemr
// plugin.  Every call runs off the event loop; an AbortSignal fires the
// call's cancel token.  No token ever reaches JavaScript.

export interface CallOptions {
  /** Seconds for the whole call, retries included (default: the instance's timeout_ms). */
  timeout?: number;
  /** Aborting ends the call promptly; it rejects with Cancelled. */
  signal?: AbortSignal;
}

export interface FetchOptions extends CallOptions {
  /** An encoded query string (without '?') or a record of parameters. */
  query?: string | Record<string, string | number> | null;
  method?: 'GET' | 'POST' | 'PUT';
  /** Bytes, a string, or an object sent as JSON. */
  body?: Buffer | Uint8Array | string | object | null;
  contentType?: string;
  /** Follow paging and merge one Bundle. */
  allPages?: boolean;
  maxPages?: number;
  /** path is under OpenEMR's standard API (/apis/SITE/api) instead of FHIR. */
  api?: boolean;
}

/** What a grant looks like from outside: never a token value. */
export interface Grant {
  state: 'none' | 'valid' | 'expired' | 'reauth_required';
  scope: string;
  patient: string;
  encounter: string;
  subject: string;
  fhirUser: string;
  accessExpiresAtMs: number;
  obtainedAtMs: number;
  generation: number;
  hasRefreshToken: boolean;
}

export interface PatientMatch {
  id: string;
  name: string;
  birthDate?: string;
  phone?: string;
}

/** A fetch's answer; close() (or `using`) has the plugin free and wipe it. */
export class Response {
  readonly status: number;
  readonly contentType: string;
  readonly pages: number;
  /** Lower-case header names. */
  readonly headers: Record<string, string>;
  readonly body: Buffer;
  readonly closed: boolean;
  text(): string;
  json(): any;
  close(): void;
  [Symbol.dispose](): void;
}

export class Instance {
  readonly name: string;
  readonly plugin: string;
  readonly version: string;
  fetch(path: string, options?: FetchOptions): Promise<Response>;
  /** fetch() then .json(), the response released at once. */
  fetchJSON(path: string, options?: FetchOptions): Promise<any>;
  status(options?: CallOptions): Promise<Grant>;
  refresh(options?: CallOptions): Promise<Grant>;
  reload(options?: CallOptions): Promise<void>;
  findPatient(query: ({ name: string; birthdate?: string } | { phone: string }) & CallOptions):
    Promise<PatientMatch[]>;
  /** Waits for calls in flight, then frees the instance. */
  close(): Promise<void>;
  [Symbol.asyncDispose](): Promise<void>;
}

export interface OpenOptions {
  /** Default: $VAP_CONFIG, else /etc/vap/plugins.conf. */
  config?: string;
  /** Default: the only instance in the config. */
  instance?: string;
  logLevel?: 'error' | 'warning' | 'info' | 'debug';
}

export function open(options?: OpenOptions): Instance;
export function load(module: string, options?: Record<string, string | number>,
  settings?: { logLevel?: OpenOptions['logLevel'] }): Instance;
export function configPath(config?: string): string;

export class VapError extends Error {
  /** The stable vap_status number. */
  readonly code: number;
  /** The last HTTP status seen, 0 if none. */
  readonly httpStatus: number;
  /** The server's OAuth error code, '' if none. */
  readonly oauthError: string;
  readonly retryAfterS: number;
  /** fetch only: the server's answer where it sent a body (already released). */
  readonly response: Response | null;
}
export class InvalidArgument extends VapError {}
export class ConfigError extends VapError {}
export class AbiError extends ConfigError {}
export class Unsupported extends VapError {}
export class OutOfMemory extends VapError {}
export class LocalIOError extends VapError {}
export class SealError extends VapError {}
/** Try again later. */
export class Unavailable extends VapError {}
export class Timeout extends Unavailable {}
export class TLSError extends VapError {}
export class Cancelled extends VapError {}
/** A staff member must run vap-host authorize. */
export class ReauthRequired extends VapError {}
/** The practice admin must fix the client in OpenEMR. */
export class ClientRejected extends VapError {}
/** A missing scope, access control or role. */
export class Denied extends VapError {}
export class ProtocolError extends VapError {}
export class HTTPError extends VapError {}
