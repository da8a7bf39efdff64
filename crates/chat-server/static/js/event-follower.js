// Following a room over server-sent events, and telling a server that is
// away from streams that something in between does not let through.

import { QUICK_TIMEOUT_MS, isMessage, serverError } from './http.js';
import { setStatus } from './page.js';
import { accessToken } from './token.js';

/** A new stream not open this long, while the events URL answers with a
 * stream, is held back by something in between (a buffering proxy): poll
 * instead. A stream the browser reconnects by itself gets `retry:` more. */
const STREAM_OPEN_TIMEOUT_MS = 5_000;
/** The server's `retry:`, the browser's wait before it reconnects a stream. */
const STREAM_RETRY_MS = 2_000;
/** Streams failing this many times in a row, with no message, while the
 * server neither refuses them nor says it is too busy for them, are cut by
 * something in between: poll instead. */
const STREAM_FAILURES_BEFORE_FALLBACK = 3;
/** A stream that stayed open this long worked: the failures counted before
 * it are forgiven. */
const STREAM_HEALTHY_MS = 20_000;

/** The verdict on a 200 answer of the events URL: a stream, or something
 * else (a proxy's page) where a stream should be. */
function streamVerdict(response) {
  const type = response.headers.get('Content-Type') ?? '';
  if (type.split(';')[0].trim().toLowerCase() === 'text/event-stream') {
    return { verdict: 'streams' };
  }
  const error = new Error(`the events URL answered ${type || 'no Content-Type'}, not a stream`);
  return { verdict: 'other', error };
}

/** The verdict on an error answer of the events URL. */
function refusalVerdict(status) {
  if (status === 401 || status === 403) return 'refused';
  if (status === 503 || status === 429) return 'busy';
  // A proxy's 502 or 504 while the server is down, or a server error.
  if (status >= 500) return 'failing';
  return 'other';
}

/** The events URL's answer weighed against a plain read of the room: no
 * answer, or a server error, while reads are answered is something in
 * between that keeps streams from getting through (no answer: one that
 * withholds them, as it would the page's own stream); with reads failing
 * too, the server is away. */
function judged(answer, readsWork) {
  if (answer.verdict !== 'away' && answer.verdict !== 'failing') return answer;
  if (!readsWork) return { ...answer, verdict: 'away' };
  return { ...answer, verdict: answer.verdict === 'away' ? 'streams' : 'other' };
}

/**
 * Follows one room over server-sent events. The browser's EventSource
 * reconnects by itself and sends Last-Event-ID, so the server resumes right
 * after the last event received; a new stream (at the start, or after the
 * server refused one) starts `after=` the view's cursor. A stream that the
 * browser's own retry did not get open by its deadline, or that was refused,
 * is diagnosed by asking the events URL itself, whose answer tells whose
 * fault it was: a server that is away (keep trying), a refusal by access
 * control (stop), a server with no room for another stream (wait as its
 * Retry-After says), or streams that something in between does not let
 * through (give up on streams, see STREAM_OPEN_TIMEOUT_MS and
 * STREAM_FAILURES_BEFORE_FALLBACK).
 */
export class EventFollower {
  constructor(view) {
    this.view = view;
    this.source = null;
    /** Where the browser's stream stands: the `after` it opened with, then
     * the id of each event (its Last-Event-ID). */
    this.position = null;
    /** The open deadline's timer, 0 while none is set. */
    this.openTimer = 0;
    /** When the current stream opened, or null while it is not open. */
    this.openedAt = null;
    /** Whether the browser is reconnecting the current stream by itself. */
    this.retrying = false;
    /** Streams in a row that failed while the server answered (see
     * `judged`). */
    this.brokenStreams = 0;
    this.probing = false;
    this.done = false;
  }

  /** Resolves `{stopped: true}` when the view stops or access is refused,
   * `{stopped: false, why}` when streams do not get through. */
  run() {
    return new Promise((resolve) => {
      this.finish = (outcome) => {
        this.done = true;
        this.close();
        resolve(outcome);
      };
      const { signal } = this.view;
      if (signal.aborted) return this.finish({ stopped: true });
      signal.addEventListener('abort', () => this.finish({ stopped: true }), { once: true });
      this.connect();
    });
  }

  /** The events URL from the view's cursor. EventSource cannot send
   * headers: the contract takes the token here too. */
  streamUrl() {
    const query = new URLSearchParams({ after: this.view.cursor });
    if (accessToken !== null) query.set('access_token', accessToken);
    return `${this.view.eventsPath}?${query}`;
  }

  connect() {
    const source = new EventSource(this.streamUrl());
    this.position = this.view.cursor;
    this.retrying = false;
    source.addEventListener('open', () => this.opened());
    source.addEventListener('message', (event) => this.message(event));
    source.addEventListener('truncated', () => this.truncated());
    source.addEventListener('error', () => this.failed(source));
    this.source = source;
    this.armOpenDeadline(source, STREAM_OPEN_TIMEOUT_MS);
  }

  close() {
    this.clearOpenDeadline();
    this.source?.close();
    this.source = null;
  }

  opened() {
    this.clearOpenDeadline();
    this.openedAt = performance.now();
    this.retrying = false;
    this.view.failures = 0;
    setStatus('live');
  }

  message(event) {
    let message = null;
    try {
      message = JSON.parse(event.data);
    } catch {
      // Not JSON: not a message of ours, skipped.
    }
    if (!isMessage(message)) return;
    this.brokenStreams = 0;
    this.position = message.id.toLowerCase();
    this.view.receive({ messages: [message], truncated: false });
  }

  /** Retention cut the history after the stream's position. A page that is
   * further on got there by reads (catching up) from its cursor, which
   * reported any cut themselves: the note is not repeated. */
  truncated() {
    if (this.position === this.view.cursor) this.view.receive({ messages: [], truncated: true });
  }

  /** The stream ended or could not be opened. Nothing is counted here: a
   * stream the browser reconnects by itself (CONNECTING, after `retry:`) has
   * until its open deadline, set at the first failure and not moved by the
   * retries that fail after it; one the browser gave up on (CLOSED: the
   * answer was not 200 `text/event-stream`) is diagnosed at once. */
  failed(source) {
    const lived = this.openedAt !== null && performance.now() - this.openedAt >= STREAM_HEALTHY_MS;
    if (lived) this.brokenStreams = 0;
    this.openedAt = null;
    setStatus('reconnecting');
    if (source.readyState === EventSource.CLOSED) {
      this.clearOpenDeadline();
      this.diagnose(source, { stalled: false });
    } else if (!this.retrying) {
      this.retrying = true;
      this.armOpenDeadline(source, STREAM_RETRY_MS + STREAM_OPEN_TIMEOUT_MS);
    }
  }

  /** Diagnoses `source` as stalled unless it opens within `ms`. */
  armOpenDeadline(source, ms) {
    clearTimeout(this.openTimer);
    this.openTimer = setTimeout(() => {
      this.openTimer = 0;
      this.diagnose(source, { stalled: true });
    }, ms);
  }

  clearOpenDeadline() {
    clearTimeout(this.openTimer);
    this.openTimer = 0;
  }

  /** A stream that was refused, or did not open by its deadline (`stalled`):
   * what the events URL answers says what to do. While the server answers,
   * a quick read of the room shows what was said meanwhile. */
  async diagnose(source, { stalled }) {
    if (this.done) return;
    if (this.probing) {
      // The check in flight decides on this failure; a stall is checked
      // again after it, so a stream that never opens is still noticed.
      if (stalled) this.armOpenDeadline(source, STREAM_OPEN_TIMEOUT_MS);
      return;
    }
    this.probing = true;
    let answer = await this.checkStream();
    if (answer.verdict !== 'refused') answer = judged(answer, await this.catchUp());
    this.probing = false;
    if (this.done || source !== this.source) return;
    await this.decide(source, answer, stalled);
  }

  /**
   * Asks the events URL what it answers, reading only the status and the
   * Content-Type (the stream itself is aborted at once). The verdict:
   * `streams` (200 `text/event-stream`: the server gives streams, so what
   * fails is in between), `refused` (401, 403), `busy` (503, 429: the server
   * asks to come back later), `failing` (another 5xx), `away` (no answer
   * within STREAM_OPEN_TIMEOUT_MS) or `other`; `error` says why, for the
   * backoff and the refusal.
   */
  async checkStream() {
    const controller = new AbortController();
    const token = accessToken;
    try {
      const response = await fetch(this.streamUrl(), {
        headers: { Accept: 'text/event-stream' },
        cache: 'no-store',
        signal: AbortSignal.any([
          controller.signal,
          this.view.signal,
          // A server sends a stream's head at once.
          AbortSignal.timeout(STREAM_OPEN_TIMEOUT_MS),
        ]),
      });
      if (response.ok) return streamVerdict(response);
      const error = await serverError(response, token);
      return { verdict: refusalVerdict(error.status), error };
    } catch (error) {
      return { verdict: 'away', error };
    } finally {
      controller.abort();
    }
  }

  /** Shows what was said while the stream was down: a read from the cursor
   * that does not wait, which a server with no room for another stream still
   * answers. Each message goes through `receive`, so none shows twice.
   * Resolves whether the read was answered. */
  async catchUp() {
    try {
      const query = { after: this.view.cursor, timeout: 0 };
      const page = await this.view.fetchPage(query, QUICK_TIMEOUT_MS);
      if (!this.done) this.view.receive(page);
      return true;
    } catch (error) {
      if (this.view.refused(error)) this.finish({ stopped: true });
      // Else the events URL's answer decides what comes next.
      return false;
    }
  }

  /** Acts on the events URL's answer for `source`, which failed or did not
   * open (`stalled`). */
  async decide(source, { verdict, error }, stalled) {
    if (verdict === 'refused') {
      this.view.refused(error);
      this.finish({ stopped: true });
      return;
    }
    // The browser's own retry got through meanwhile.
    if (source.readyState === EventSource.OPEN) return;
    if (verdict === 'away' || verdict === 'busy') {
      // No fault of streams: wait for the server.
      await this.tryAgain(source, error);
      return;
    }
    if (stalled && !this.retrying && verdict === 'streams') {
      const why = `no event stream opened within ${STREAM_OPEN_TIMEOUT_MS} ms`;
      this.finish({ stopped: false, why });
      return;
    }
    this.brokenStreams += 1;
    if (this.brokenStreams >= STREAM_FAILURES_BEFORE_FALLBACK) {
      this.finish({ stopped: false, why: `${this.brokenStreams} event streams failed in a row` });
      return;
    }
    await this.tryAgain(source, error ?? new Error('the event stream failed'));
  }

  /** Goes on with streams: one the browser is still reconnecting gets a new
   * open deadline; one it gave up on is opened anew after a backoff (at
   * least the server's Retry-After). */
  async tryAgain(source, error) {
    if (source.readyState !== EventSource.CLOSED) {
      this.armOpenDeadline(source, STREAM_RETRY_MS + STREAM_OPEN_TIMEOUT_MS);
      return;
    }
    this.close();
    await this.view.backOff(error);
    if (!this.done) this.connect();
  }
}
