// Requests to the server: the access token on each, the contract's JSON
// errors as ServerError, timeouts, backoff, and the shape of a message.

import { accessToken } from './token.js';

/** Limit for requests the server answers at once (history, sends, probes). */
export const QUICK_TIMEOUT_MS = 10_000;
/** Retry delays double from the first to the cap. */
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** The longest wait a Retry-After gets; a longer one is taken as this. */
const RETRY_AFTER_MAX_MS = 60_000;

/** The server refused a request: its status, the contract's `error` code and
 * text, the token the request carried (null for none), and how long its
 * Retry-After asks to wait (null when it has none). */
export class ServerError extends Error {
  constructor(status, code, message, token, retryAfterMs) {
    super(message);
    this.name = 'ServerError';
    this.status = status;
    this.code = code;
    this.token = token;
    this.retryAfterMs = retryAfterMs;
  }
}

/** The wait an answer's Retry-After asks for (seconds, or an HTTP date), in
 * ms up to RETRY_AFTER_MAX_MS, or null. */
function retryAfterMs(headers) {
  const text = headers.get('Retry-After')?.trim() ?? '';
  const ms = /^[0-9]+$/.test(text) ? Number(text) * 1000 : Date.parse(text) - Date.now();
  return Number.isNaN(ms) ? null : Math.min(RETRY_AFTER_MAX_MS, Math.max(0, ms));
}

/** The ServerError for an error answer to a request that carried `token`. */
export async function serverError(response, token) {
  // A proxy's error page is not JSON: fall back to the status.
  const problem = await response.json().catch(() => null);
  const message =
    problem && typeof problem.message === 'string'
      ? problem.message
      : `the server answered ${response.status} ${response.statusText}`.trim();
  const code = problem && typeof problem.error === 'string' ? problem.error : null;
  return new ServerError(response.status, code, message, token, retryAfterMs(response.headers));
}

/**
 * Sends a JSON request, with the access token if one is kept, and returns
 * the parsed answer and its headers. Throws a ServerError for an error
 * status, anything else for a network failure, a timeout or an abort
 * through `signal`.
 */
export async function request(url, { method = 'GET', json, signal, timeoutMs, headers: extra = {} }) {
  const signals = [AbortSignal.timeout(timeoutMs)];
  if (signal) signals.push(signal);
  const token = accessToken;
  const headers = { ...extra, Accept: 'application/json' };
  if (json !== undefined) headers['Content-Type'] = 'application/json';
  if (token !== null) headers.Authorization = `Bearer ${token}`;
  const response = await fetch(url, {
    method,
    headers,
    body: json === undefined ? undefined : JSON.stringify(json),
    cache: 'no-store',
    signal: AbortSignal.any(signals),
  });
  if (!response.ok) throw await serverError(response, token);
  return { data: await response.json(), headers: response.headers };
}

/** Resolves after `ms`, or at once when `signal` aborts. */
export function sleep(ms, signal) {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      signal.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal.addEventListener('abort', done);
  });
}

/** Capped exponential backoff with jitter, so clients that lost the same
 * server do not all come back in the same millisecond. */
export function backoffDelay(failures) {
  const capped = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** failures);
  return capped * (0.5 + Math.random() / 2);
}

/** The largest poll `timeout` an answer's Chat-Max-Poll-Timeout allows, or null. */
export function maxPollTimeout(headers) {
  const text = headers.get('Chat-Max-Poll-Timeout');
  return text !== null && /^[0-9]+$/.test(text.trim()) ? Number(text) : null;
}

export function isMessage(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.id === 'string' &&
    typeof value.body === 'string' &&
    typeof value.created_at === 'string'
  );
}

