// SPDX-License-Identifier: MIT
//
// Types of the ukeyd web SDK (ukey.js), written by hand to match it and
// docs/protocol.md; checked by `npm run check-types` against
// types-check.ts (the same run checks ukey.js against its JSDoc).

export declare const SDK_VERSION: string;
export declare const MIN_DAEMON_VERSION: string;
export declare const PROTOCOL_VERSION: number;
export declare const DEFAULT_PORTS: readonly number[];
export declare const SDK_REASONS: readonly SdkReason[];
export declare const EVENT_NAMES: readonly EventName[];
export declare const KNOWN_REASONS: readonly string[];

/** Reasons the SDK produces itself. */
export type SdkReason =
  | 'HELPER_NOT_RUNNING'
  | 'HELPER_OUTDATED'
  | 'SDK_OUTDATED'
  | 'BROWSER_BLOCKED'
  | 'ORIGIN_NOT_ALLOWED'
  | 'TIMEOUT'
  | 'CONNECTION_LOST'
  | 'NO_WEBSOCKET';

/** The daemon's reasons (docs/protocol.md, common/include/uk/rc.h). */
export type DaemonReason =
  | 'INVALID_JSON' | 'NUL_IN_STRING' | 'BATCH_UNSUPPORTED' | 'NOT_AN_OBJECT' | 'DUPLICATE_KEY'
  | 'TOO_DEEP' | 'INVALID_ID' | 'UNKNOWN_MEMBER' | 'INVALID_VERSION' | 'INVALID_METHOD'
  | 'PARAMS_NOT_OBJECT' | 'METHOD_NOT_FOUND' | 'PARAM_UNKNOWN' | 'PARAM_TYPE' | 'PARAM_LENGTH'
  | 'PARAM_FORMAT' | 'PARAM_MISSING'
  | 'INTERNAL_ERROR' | 'OUT_OF_MEMORY' | 'INVALID_ARGUMENT' | 'BUFFER_TOO_SMALL' | 'LIMIT_EXCEEDED'
  | 'MALFORMED_DATA' | 'NOT_FOUND' | 'NOT_SUPPORTED' | 'IO_ERROR' | 'TIMEOUT' | 'CANCELLED'
  | 'CRYPTO_ERROR' | 'PCSC_UNAVAILABLE' | 'NO_READER' | 'NO_CARD' | 'CARD_REMOVED' | 'CARD_BUSY'
  | 'CARD_ERROR' | 'CARD_UNSUPPORTED' | 'SECURITY_STATUS' | 'PIN_INCORRECT' | 'PIN_BLOCKED'
  | 'PIN_INVALID_FORMAT' | 'PUK_INCORRECT' | 'PUK_BLOCKED' | 'MGMT_AUTH_FAILED' | 'PIN_LAST_TRY'
  | 'RENEWAL_NOT_ALLOWED' | 'RENEWAL_PENDING' | 'RENEWAL_NOT_FOUND' | 'CERT_KEY_MISMATCH'
  | 'CERT_NOT_VALID' | 'CERT_SUBJECT_MISMATCH' | 'NO_FREE_SLOT'
  | 'MODULE_NOT_ALLOWED' | 'MODULE_LOAD_FAILED' | 'MODULE_INIT_FAILED';

/** A reason: the known names, or a newer daemon's (names are never reused). */
export type Reason = SdkReason | DaemonReason | (string & {});

export type Lang = 'zh-CN' | 'en';
export type Messages = { 'zh-CN': string; en: string };
export type PermissionStateLNA = 'granted' | 'denied' | 'prompt' | 'unsupported';

/** One attempt on one port while connecting (error.data.attempts). */
export interface ConnectAttempt {
  port: number;
  /** refused: no socket or closed before open; timeout: no event at all; http: answered with a status */
  kind: 'refused' | 'timeout' | 'http';
  status?: number;
}

export declare class UKeyError extends Error {
  constructor(reason: Reason, opts?: {
    code?: number | null; data?: Record<string, any>; lang?: string; downloadUrl?: string;
    method?: string; detail?: string; cause?: unknown;
  });
  readonly name: 'UKeyError';
  /** the daemon's error.data.reason, or one of SdkReason */
  reason: Reason;
  /** the JSON-RPC code of a daemon error; null for the SDK's own */
  code: number | null;
  /** error.data (retriesLeft for PIN/PUK errors, field for param errors, …); {} when none */
  data: Record<string, any>;
  messages: Messages;
  /** the daemon's English message or the SDK's detail, for logs (not for users) */
  detail?: string;
  /** the protocol method that failed, when a request failed */
  method?: string;
  /** the hall's download link; set for HELPER_NOT_RUNNING and HELPER_OUTDATED */
  downloadUrl?: string;
  /** the text for a reason in a language ('zh-CN' by default) */
  static message(reason: Reason, lang?: Lang | string, data?: Record<string, any>): string;
}

export declare function compareVersions(a: string, b: string): number;

export interface UKeyClientOptions {
  /** default [17485, 17486, 17487, 17488, 17489], tried in order */
  ports?: number[];
  /** default '127.0.0.1' */
  host?: string;
  /** default globalThis.WebSocket; Node passes the class of npm `ws` */
  WebSocket?: any;
  /** Node only: the ws constructor's options, e.g. { origin: 'https://hall…' } */
  wsOptions?: Record<string, any>;
  /** language of UKeyError#message; default 'zh-CN' */
  lang?: Lang | string;
  /** default 30000 */
  requestTimeoutMs?: number;
  /** renew.* default; 180000 */
  longRequestTimeoutMs?: number;
  /** per port; default 3000 */
  connectTimeoutMs?: number;
  /** reconnect with backoff after a lost connection or a failed connect; default true */
  reconnect?: boolean;
  /** first reconnect delay (before jitter); default 500 */
  reconnectBaseMs?: number;
  /** the backoff's cap; default 30000 */
  reconnectMaxMs?: number;
  /** the hall's helper download link, carried by HELPER_* errors */
  downloadUrl?: string;
  /** default MIN_DAEMON_VERSION */
  minDaemonVersion?: string;
  /** system.hello's `client` (≤ 128 characters) */
  client?: string;
  /** the plain HTTP probe that tells a refused origin from "not running"; default true */
  probe?: boolean;
  /** a system.ping this often while idle, under the daemon's idle timeout; 0: never; default 240000 */
  keepAliveMs?: number;
}

export interface HelloResult {
  daemon: 'ukeyd' | string;
  version: string;
  protocol: number;
  minSdkVersion: string;
  capabilities: string[];
}

export interface Token {
  tokenId: string;
  driver: string;
  label: string;
  manufacturer: string;
  model: string;
  serial: string;
  firmware?: string;
  reader: string;
}

export interface PinStatus {
  /** null when unknown (e.g. while verified) */
  retriesLeft: number | null;
  verified: boolean;
  blocked: boolean;
}

export interface TokenInfo extends Token {
  pin: PinStatus;
}

export interface EnvProblem {
  code:
    | 'PCSC_UNAVAILABLE' | 'NO_READER' | 'CCID_NOT_LISTED' | 'VENDOR_DRIVER_MISSING'
    | 'NO_CARD' | 'CARD_UNSUPPORTED' | 'PIN_BLOCKED' | 'CERT_EXPIRED' | 'CERT_RENEWABLE'
    | 'CERT_NOT_YET_RENEWABLE' | 'HELPER_OUTDATED' | 'USB_UNAVAILABLE'
    | 'PKCS11_MODULE_FAILED' | 'USB_KEY_LIST_INVALID' | (string & {});
  /** error: in the way; warning: the check itself is limited; info: nothing is wrong */
  severity: 'error' | 'warning' | 'info' | (string & {});
  message: Messages;
  /** what the user can do about it */
  fix?: Messages;
  device?: { vid: string; pid: string; product?: string; knownName?: string };
  driverUrl?: string;
  tokenId?: string;
  certId?: string;
  notAfter?: string;
  renewalOpensAt?: string;
  renewalClosesAt?: string;
  minDaemonVersion?: string;
  module?: string;
  reason?: string;
  error?: string;
}

export interface UsbDevice {
  vid: string;
  pid: string;
  bus: number;
  address: number;
  maker?: string;
  product?: string;
  serial?: string;
  interfaceClasses: string[];
  smartCardClass: boolean;
  known: boolean;
  kind: 'ccid' | 'vendor' | (string & {});
  knownName?: string;
  knownMaker?: string;
  driverUrl?: string;
  /** whether an installed PC/SC driver declares this vid:pid (when readable) */
  driverListed?: boolean;
  reader: string | null;
  tokenId: string | null;
  /** vendor keys: whether one of their PKCS#11 modules is configured */
  moduleConfigured?: boolean;
  module?: string;
}

export interface Pkcs11Module {
  module: string;
  status: 'loading' | 'ok' | 'failed';
  problem?: 'MODULE_LOAD_FAILED' | 'MODULE_INIT_FAILED' | 'MODULE_NOT_ALLOWED' | (string & {});
  description?: string;
  slotEvents?: boolean;
}

/** what a token's worker last read from it (env.check) */
export interface TokenFacts {
  pin?: PinStatus;
  certs?: Cert[];
  readAt?: string;
  /** the read failed: an error reason */
  error?: string;
}

export interface EnvCheck {
  daemon: { version: string; running: boolean; port: number };
  pcsc: { running: boolean };
  readers: { name: string; card: boolean; cardSupported: boolean; atr?: string }[];
  usb: { available: boolean; hotplug: boolean; reason?: string; devices: UsbDevice[] };
  pkcs11?: Pkcs11Module[];
  /** factsPending: the worker is still reading; envChanged {cause: 'token'} follows */
  tokens: (Token & { facts?: TokenFacts; factsPending?: boolean })[];
  /** empty means ready */
  problems: EnvProblem[];
}

export interface CertRenewal {
  eligible: boolean;
  opensAt: string;
  closesAt: string;
  daysToExpiry: number;
  reason?: 'SUPERSEDED' | (string & {});
  supersededBy?: string;
}

export interface Cert {
  certId: string;
  slot: string;
  subject: string;
  commonName?: string;
  organization?: string;
  orgUnit?: string;
  subjectSerialNumber?: string;
  issuer: string;
  issuerCommonName?: string;
  serialNumber: string;
  notBefore: string;
  notAfter: string;
  keyType: 'rsa1024' | 'rsa2048' | 'p256' | 'p384' | null;
  keyBits?: number;
  keyUsage?: string[];
  status: 'valid' | 'expiring' | 'expired' | 'not_yet_valid';
  current?: boolean;
  renewal: CertRenewal;
}

export interface Proof {
  algorithm: 'sha256WithRSAEncryption' | 'ecdsa-with-SHA256' | (string & {});
  /** base64 */
  signature: string;
}

export interface RenewBeginParams {
  tokenId: string;
  certId: string;
  pin: string;
  /** 16–512 printable ASCII characters, no spaces, chosen by the hall's server per order */
  challenge: string;
  keyType?: 'rsa2048' | 'p256' | 'p384' | (string & {});
  confirmLastTry?: boolean;
}

export interface RenewBeginResult {
  renewalId: string;
  slot: string;
  keyType: string;
  publicKey: string;
  csr: string;
  proof: Proof;
  oldCertId: string;
  createdAt: string;
}

export interface RenewInstallParams {
  tokenId: string;
  pin: string;
  /** PEM (one or more certificates, any order) or base64 DER of one */
  certificate: string;
  renewalId?: string;
  confirmLastTry?: boolean;
}

export interface RenewInstallResult {
  installed: true;
  alreadyInstalled: boolean;
  renewalId?: string;
  certId: string;
  slot: string;
  notBefore?: string;
  notAfter?: string;
}

export interface PendingRenewal {
  renewalId: string;
  state: 'generating' | 'requested' | 'installing' | 'staged';
  slot: string;
  keyType?: string;
  oldCertId: string;
  oldCertificate?: string;
  publicKey?: string;
  /** absent when found on the key alone (source 'token') */
  csr?: string;
  proof?: Proof;
  /** in state 'installing' */
  certificate?: string;
  createdAt?: string;
  updatedAt?: string;
  onToken: boolean;
  source: 'journal' | 'token';
}

export interface RenewCancelParams {
  tokenId: string;
  renewalId: string;
  pin: string;
  confirmLastTry?: boolean;
}

export interface CallOptions {
  timeoutMs?: number;
}

export interface ConnectionChange {
  connected: boolean;
  /** why it is not connected: CONNECTION_LOST, CLOSED (close() was called), or a connect failure's reason */
  reason?: Reason | 'CLOSED';
  /** the port, when connected */
  port?: number;
  /** a connect failure's error.data (e.g. BROWSER_BLOCKED's permission and waiting) */
  data?: Record<string, any>;
}

export interface UKeyEvents {
  tokenInserted: Token;
  tokenRemoved: { tokenId: string; reader: string };
  readerAdded: { reader: string };
  readerRemoved: { reader: string };
  renewProgress: {
    tokenId: string;
    stage: 'verifyingPin' | 'generatingKey' | 'storingPublicKey' | 'signingRequest'
      | 'writingCertificate' | 'verifying' | (string & {});
    renewalId?: string;
  };
  /** env.check's answer changed: ask again */
  envChanged: { cause: 'usb' | 'token' | 'card' | (string & {}); tokenId?: string; reader?: string };
  connectionChanged: ConnectionChange;
}

export type EventName = keyof UKeyEvents;

export declare class UKeyClient {
  constructor(options?: UKeyClientOptions);
  /** the Local Network Access permission of this page; never prompts */
  static localNetworkAccess(): Promise<PermissionStateLNA>;

  readonly ports: number[];
  readonly host: string;
  lang: Lang;
  requestTimeoutMs: number;
  longRequestTimeoutMs: number;
  connectTimeoutMs: number;
  reconnect: boolean;
  downloadUrl: string;
  minDaemonVersion: string;
  client?: string;
  /** whether a connection is open and said hello */
  connected: boolean;
  /** the last system.hello result, or null */
  daemon: HelloResult | null;
  /** the port of the open connection, or null */
  port: number | null;

  connect(): Promise<HelloResult>;
  close(): void;
  on<K extends EventName>(name: K, fn: (payload: UKeyEvents[K]) => void): this;
  off<K extends EventName>(name: K, fn: (payload: UKeyEvents[K]) => void): this;

  hello(): Promise<HelloResult>;
  ping(): Promise<{ pong: true }>;
  envCheck(): Promise<EnvCheck>;
  listTokens(): Promise<{ tokens: Token[] }>;
  tokenInfo(tokenId: string): Promise<TokenInfo>;
  listCerts(tokenId: string): Promise<{ certs: Cert[] }>;
  getCert(tokenId: string, certId: string): Promise<{ certId: string; pem: string }>;
  pinStatus(tokenId: string): Promise<PinStatus>;
  verifyPin(tokenId: string, pin: string, opts?: { confirmLastTry?: boolean }): Promise<{ verified: true }>;
  changePin(tokenId: string, oldPin: string, newPin: string): Promise<{ changed: true }>;
  unblockPin(tokenId: string, puk: string, newPin: string): Promise<{ unblocked: true }>;
  renewBegin(params: RenewBeginParams, opts?: CallOptions): Promise<RenewBeginResult>;
  renewInstall(params: RenewInstallParams, opts?: CallOptions): Promise<RenewInstallResult>;
  renewPending(tokenId: string, opts?: CallOptions): Promise<{ renewals: PendingRenewal[]; journalDamaged: number }>;
  renewCancel(params: RenewCancelParams, opts?: CallOptions): Promise<{ cancelled: true; renewalId: string }>;
  call<T = any>(method: string, params?: Record<string, any>, opts?: CallOptions): Promise<T>;
}

export default UKeyClient;
