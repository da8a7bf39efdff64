// The chat page: shows a room's recent history, follows new messages over
// server-sent events (long polling where streams do not get through, or with
// `/?transport=long-poll`) and posts new ones; asks for an access token when
// the server wants one. Plain JavaScript served by chat-server itself, no
// build step. Message text only ever reaches the page through textContent,
// so a body is shown as typed and never parsed as HTML.
//
// Top to bottom: constants; requests and small helpers; what the browser
// keeps (name, token) and the token prompt; rendering; the room view (its
// history, the one `receive` every page of messages goes through, the long
// poll); the event-stream follower; switching rooms; the composer.
'use strict';

/** Room names of the HTTP contract. */
const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const DEFAULT_ROOM = 'general';
/** Messages per history page: the recent history and each "load older". */
const PAGE_SIZE = 50;
/** Seconds a poll may wait when nothing is new; less if Chat-Max-Poll-Timeout says so. */
const POLL_TIMEOUT_SECS = 30;
/** Between polls to a server that allows no waiting at all. */
const NO_WAIT_POLL_INTERVAL_MS = 2_000;
/** A poll unanswered this long after its timeout is on a dead connection. */
const POLL_GRACE_MS = 10_000;
/** Limit for requests the server answers at once (history, sends, probes). */
const QUICK_TIMEOUT_MS = 10_000;
/** An empty poll answer sooner than this came from a server shutting down. */
const EARLY_ANSWER_MS = 1_000;
/** Retry delays double from the first to the cap. */
const BACKOFF_FIRST_MS = 250;
const BACKOFF_MAX_MS = 10_000;
/** The longest wait a Retry-After gets; a longer one is taken as this. */
const RETRY_AFTER_MAX_MS = 60_000;
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
/** The nil UUID: "from the very start", the cursor of an empty room. */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';
const NAME_KEY = 'chat.name';
const TOKEN_KEY = 'chat.token';
/** The newest messages kept on the page, so an open tab does not grow without end. */
const DEFAULT_WINDOW = 500;
/** Within this many pixels of the bottom, the view follows new messages. */
const FOLLOW_SLACK_PX = 48;
/** Author colour classes c0..c7 in app.css. */
const AUTHOR_COLOURS = 8;
/** Screen-reader announcements kept in the live region. */
const ANNOUNCEMENTS_KEPT = 5;

const STATUS_TEXT = {
  connecting: 'Connecting…',
  live: 'Live',
  reconnecting: 'Reconnecting…',
  locked: 'Token needed',
  denied: 'No access',
};

const byId = (id) => document.getElementById(id);
const ui = {
  status: byId('status'),
  roomTitle: byId('room-title'),
  roomForm: byId('room-form'),
  roomInput: byId('room'),
  forgetToken: byId('forget-token'),
  notice: byId('notice'),
  tokenForm: byId('token-form'),
  tokenReason: byId('token-reason'),
  tokenInput: byId('token'),
  log: byId('log'),
  older: byId('load-older'),
  historyStart: byId('history-start'),
  list: byId('messages'),
  jump: byId('jump'),
  announcer: byId('announcer'),
  sendForm: byId('send-form'),
  author: byId('author'),
  body: byId('body'),
  sendError: byId('send-error'),
};

/** The server refused a request: its status, the contract's `error` code and
 * text, the token the request carried (null for none), and how long its
 * Retry-After asks to wait (null when it has none). */
class ServerError extends Error {
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
async function serverError(response, token) {
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
async function request(url, { method = 'GET', json, signal, timeoutMs, headers: extra = {} }) {
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
function sleep(ms, signal) {
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
function backoffDelay(failures) {
  const capped = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** failures);
  return capped * (0.5 + Math.random() / 2);
}

function setStatus(state) {
  if (ui.status.dataset.state === state) return;
  ui.status.dataset.state = state;
  ui.status.textContent = STATUS_TEXT[state];
}

function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
}

/** A parameter of the page's own URL (`?window=`, `?transport=`), or null. */
function pageParameter(name) {
  return new URLSearchParams(location.search).get(name);
}

/** How many messages the page keeps: `?window=N` in its URL, else the default. */
function windowSize() {
  const asked = Number(pageParameter('window'));
  return Number.isInteger(asked) && asked > 0 ? asked : DEFAULT_WINDOW;
}

/** How rooms are followed: `events` (EventSource) unless the URL asks for
 * `?transport=long-poll` or the browser has no EventSource; it becomes
 * `long-poll` for the rest of the page's life when streams do not get
 * through. Shown on the status badge as `data-transport`. */
let transport =
  pageParameter('transport') === 'long-poll' || !window.EventSource ? 'long-poll' : 'events';

function useTransport(name, why) {
  if (why !== undefined) console.warn(`chat: ${why}; following rooms by ${name} now`);
  transport = name;
  ui.status.dataset.transport = name;
}

/** The largest poll `timeout` an answer's Chat-Max-Poll-Timeout allows, or null. */
function maxPollTimeout(headers) {
  const text = headers.get('Chat-Max-Poll-Timeout');
  return text !== null && /^[0-9]+$/.test(text.trim()) ? Number(text) : null;
}

function isAtBottom() {
  const { scrollHeight, scrollTop, clientHeight } = ui.log;
  return scrollHeight - scrollTop - clientHeight <= FOLLOW_SLACK_PX;
}

function scrollToBottom() {
  ui.log.scrollTop = ui.log.scrollHeight;
  ui.jump.hidden = true;
}

function isMessage(value) {
  return (
    value !== null &&
    typeof value === 'object' &&
    typeof value.id === 'string' &&
    typeof value.body === 'string' &&
    typeof value.created_at === 'string'
  );
}

// What the browser keeps: the name and the access token, in localStorage.
// With storage disabled they last as long as the page.

function loadSetting(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

function saveSetting(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage disabled: nothing is kept
  }
}

/** The access token sent with every request, or null for none. */
let accessToken = loadSetting(TOKEN_KEY);
/** The author name the server gives the token's messages, once a post told it. */
let tokenName = null;

/** Keeps (or, with null, forgets) the token, and shows what it changes: the
 * "forget token" control, and the name field, which a token fills in. */
function setToken(token) {
  accessToken = token;
  tokenName = null;
  saveSetting(TOKEN_KEY, token);
  showTokenState();
}

function showTokenState() {
  const held = accessToken !== null;
  ui.forgetToken.hidden = !held;
  // A token's messages carry the token's name, so the page sends none.
  ui.author.readOnly = held;
  ui.author.placeholder = held ? 'set by your token' : 'e.g. alice';
  ui.author.value = held ? (tokenName ?? '') : (loadSetting(NAME_KEY) ?? '');
}

/**
 * The server answered 401: shows the token prompt saying `why`. A token the
 * server does not know is forgotten, so it is not sent again; a refusal of a
 * token other than the one kept now (an answer to an older request) changes
 * nothing.
 */
function askForToken(error, why) {
  if (error.token !== null) {
    if (error.token !== accessToken) return;
    setToken(null);
    why =
      'The server did not accept that token: it may be mistyped or revoked. ' +
      'Enter it again, or another one.';
  }
  ui.tokenReason.textContent = why;
  ui.tokenForm.hidden = false;
  ui.tokenInput.value = '';
  ui.tokenInput.focus();
  setStatus('locked');
}

/** A stable colour per author name. */
function colourOf(name) {
  let hash = 0;
  for (const char of name) hash = (hash * 31 + char.codePointAt(0)) >>> 0;
  return hash % AUTHOR_COLOURS;
}

/** Local time; the date too when the message is not from today. */
function formatTime(date) {
  const today = new Date();
  if (date.toDateString() === today.toDateString()) {
    return date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });
  }
  return date.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
}

/** One message as a list item; author and body go in as text only. */
function renderMessage(message) {
  const item = document.createElement('li');
  item.className = 'message';
  item.dataset.id = message.id;

  const author = document.createElement('span');
  author.className = 'author';
  if (typeof message.author === 'string') {
    author.textContent = message.author;
    author.classList.add(`c${colourOf(message.author)}`);
  } else {
    author.textContent = 'anonymous';
    author.classList.add('anonymous');
  }

  const created = new Date(message.created_at);
  const time = document.createElement('time');
  time.dateTime = message.created_at;
  time.textContent = formatTime(created);
  time.title = created.toLocaleString();

  const body = document.createElement('p');
  body.className = 'body';
  body.textContent = message.body;

  item.append(author, time, body);
  return item;
}

/**
 * Puts `item` where its id belongs, so the list stays in id order whichever
 * way a message arrives (a poll, an event, our own send, an older page).
 * Searching from the end makes the common case, a new message, a single
 * comparison.
 */
function placeInOrder(item) {
  const id = item.dataset.id;
  let before = ui.list.lastElementChild;
  while (before !== null && before.dataset.id > id) before = before.previousElementSibling;
  if (before === null) ui.list.prepend(item);
  else before.after(item);
}

function announce(message) {
  const line = document.createElement('p');
  line.textContent = `${message.author ?? 'anonymous'}: ${message.body}`;
  ui.announcer.append(line);
  while (ui.announcer.childElementCount > ANNOUNCEMENTS_KEPT) ui.announcer.firstElementChild.remove();
}

/** One open room: its history, how it follows the room and what it has shown. */
class RoomView {
  constructor(room) {
    this.room = room;
    this.path = `/rooms/${room}/messages`;
    this.eventsPath = `/rooms/${room}/events`;
    this.controller = new AbortController();
    this.signal = this.controller.signal;
    /** Ids on screen: a message is shown once, whatever the network does. */
    this.shown = new Set();
    /** The newest id received from the server: where following resumes. */
    this.cursor = NIL_UUID;
    /** The oldest id shown: the next "load older" asks for what precedes it. */
    this.oldest = null;
    /** Whether the room may hold messages older than the oldest shown. */
    this.olderExist = false;
    /** Messages kept on the page while the user follows the bottom. */
    this.windowSize = windowSize();
    /** The poll's `timeout`, within what the server said it allows. */
    this.pollTimeout = POLL_TIMEOUT_SECS;
    this.failures = 0;
    this.loadingOlder = false;
  }

  stop() {
    this.controller.abort();
  }

  /** A page of the room's messages, and whether retention cut it short. */
  async fetchPage(query, timeoutMs) {
    const url = `${this.path}?${new URLSearchParams(query)}`;
    const { data, headers } = await request(url, { signal: this.signal, timeoutMs });
    if (!Array.isArray(data)) throw new Error('the server did not answer with a list of messages');
    const max = maxPollTimeout(headers);
    if (max !== null) this.pollTimeout = Math.min(POLL_TIMEOUT_SECS, max);
    return {
      messages: data.filter(isMessage),
      truncated: headers.get('Chat-History-Truncated') === 'true',
    };
  }

  /** Shows the recent history, then follows the room until stopped. */
  async run() {
    let recent;
    while (recent === undefined) {
      try {
        recent = await this.fetchPage({ limit: PAGE_SIZE, timeout: 0 }, QUICK_TIMEOUT_MS);
      } catch (error) {
        if (this.signal.aborted || this.refused(error)) return;
        await this.backOff(error);
      }
    }
    if (this.signal.aborted) return;
    this.failures = 0;
    this.advance(recent.messages);
    this.olderExist = recent.messages.length === PAGE_SIZE;
    this.show(recent.messages, { announce: false, follow: true });
    this.showHistoryEdge();
    scrollToBottom();
    await this.follow();
  }

  /** Follows the room from the cursor: over events, and by long polling when
   * the page asks for it or streams do not get through. */
  async follow() {
    if (transport === 'events') {
      const outcome = await new EventFollower(this).run();
      if (outcome.stopped) return;
      useTransport('long-poll', outcome.why);
    }
    setStatus('live');
    await this.followPolls();
  }

  /** The one way new messages reach the page, whichever transport brought
   * them: a note where retention cut the history, then the messages, each
   * shown once and in id order, and the cursor moved past them. */
  receive({ messages, truncated }) {
    if (truncated) this.markGap();
    this.advance(messages);
    this.show(messages, { announce: true });
  }

  /** The long poll: one request at a time, always from the cursor, so a
   * reconnect resumes exactly where the last answer ended. */
  async followPolls() {
    // After a failure the next request asks for an immediate answer: it
    // shows "live" as soon as the server is back, not after a quiet poll.
    let probe = false;
    while (!this.signal.aborted) {
      const timeout = probe ? 0 : this.pollTimeout;
      const started = performance.now();
      let page;
      try {
        page = await this.fetchPage(
          { after: this.cursor, timeout },
          timeout * 1000 + POLL_GRACE_MS,
        );
      } catch (error) {
        if (this.signal.aborted || this.refused(error)) return;
        if (error instanceof ServerError && error.code === 'invalid_parameter' && timeout > 0) {
          // A smaller limit than known: ask for less; the probe's answer tells it.
          this.pollTimeout = Math.floor(timeout / 2);
        }
        await this.backOff(error);
        probe = true;
        continue;
      }
      if (this.signal.aborted) return;
      this.receive(page);
      const early = performance.now() - started < Math.min(EARLY_ANSWER_MS, timeout * 500);
      const endedEarly = !probe && timeout > 0 && page.messages.length === 0 && early;
      if (endedEarly) {
        // A server shutting down answers parked polls at once: wait as after
        // a failure instead of asking again in a tight loop.
        await this.backOff(new Error('the server ended the poll early'));
        probe = true;
        continue;
      }
      setStatus('live');
      // Only a poll that held or delivered proves the server healthy again;
      // a probe alone may reach a server that is still going away.
      if (!probe) this.failures = 0;
      // A server that allows no waiting answers at once: ask again at a
      // steady pace instead of in a tight loop.
      if (timeout === 0 && !probe) await sleep(NO_WAIT_POLL_INTERVAL_MS, this.signal);
      probe = false;
    }
  }

  /** Shows the connection as lost and waits before the next attempt: the
   * backoff, or longer where the server's Retry-After (a `503 overloaded`,
   * a `429`) asks for it. */
  async backOff(error) {
    setStatus('reconnecting');
    console.warn('chat: retrying after', error);
    const asked = error instanceof ServerError ? (error.retryAfterMs ?? 0) : 0;
    await sleep(Math.max(asked, backoffDelay(this.failures)), this.signal);
    this.failures += 1;
  }

  /** A refusal by access control when reading: a 401 asks for a token, a 403
   * says the token may not read this room. Returns whether it was one, and
   * so whether following ends here. */
  refused(error) {
    if (!(error instanceof ServerError)) return false;
    if (error.status === 401) {
      askForToken(error, `Reading #${this.room} needs an access token.`);
      return true;
    }
    if (error.status === 403) {
      setStatus('denied');
      showNotice(
        `Your token may not read #${this.room} (${error.message}). ` +
          'Choose another room, or forget the token to use another one.',
      );
      return true;
    }
    return false;
  }

  /** Moves the cursor past messages received from the server. */
  advance(messages) {
    for (const message of messages) {
      const id = message.id.toLowerCase();
      if (id > this.cursor) this.cursor = id;
    }
  }

  /** Adds messages not shown yet, in id order. New ones (not `older`) follow the
   * bottom unless the user scrolled up to read; following keeps the window. */
  show(messages, { announce: shouldAnnounce, older = false, follow = isAtBottom() }) {
    let added = 0;
    for (const message of messages) {
      const id = message.id.toLowerCase();
      if (this.shown.has(id)) continue;
      // Above the oldest shown only "load older" adds: a late answer for a
      // message already dropped from the page does not come back alone.
      if (!older && this.olderExist && this.oldest !== null && id < this.oldest) continue;
      this.shown.add(id);
      placeInOrder(renderMessage({ ...message, id }));
      if (this.oldest === null || id < this.oldest) this.oldest = id;
      if (shouldAnnounce) announce(message);
      added += 1;
    }
    if (added === 0 || older) return;
    if (follow) {
      this.trim();
      scrollToBottom();
    } else {
      ui.jump.hidden = false;
    }
  }

  /** Drops the oldest messages beyond the window, and gap notes above the
   * first one kept; "load older" brings them back. */
  trim() {
    const items = ui.list.querySelectorAll('.message');
    const excess = items.length - this.windowSize;
    if (excess <= 0) return;
    const firstKept = items[excess];
    while (ui.list.firstElementChild !== firstKept) {
      this.shown.delete(ui.list.firstElementChild.dataset.id);
      ui.list.firstElementChild.remove();
    }
    this.oldest = firstKept.dataset.id;
    this.olderExist = true;
    this.showHistoryEdge();
  }

  /** A message we just posted, shown before the room's feed brings it back. */
  showOwn(message) {
    if (!isMessage(message)) return;
    this.show([message], { announce: false, follow: true });
    scrollToBottom();
  }

  /** Retention deleted messages this page never received: say so where the
   * gap is, never silently. */
  markGap() {
    const gap = document.createElement('li');
    gap.className = 'gap';
    gap.dataset.id = this.cursor;
    gap.textContent = 'Some messages here were deleted by the server before this page received them.';
    placeInOrder(gap);
    showNotice('Some messages were missed: the server had already deleted them (retention).');
  }

  showHistoryEdge() {
    ui.older.hidden = !this.olderExist;
    ui.historyStart.hidden = this.olderExist;
    ui.historyStart.textContent =
      this.oldest === null
        ? `No messages in #${this.room} yet. Say hello!`
        : `This is the start of #${this.room}.`;
  }

  /** Prepends the page before the oldest message shown, keeping what the
   * user is looking at in place. */
  async loadOlder() {
    if (this.loadingOlder || this.oldest === null) return;
    this.loadingOlder = true;
    ui.older.setAttribute('aria-busy', 'true');
    ui.older.textContent = 'Loading…';
    try {
      const page = await this.fetchPage({ before: this.oldest, limit: PAGE_SIZE }, QUICK_TIMEOUT_MS);
      if (this.signal.aborted) return;
      const fromBottom = ui.log.scrollHeight - ui.log.scrollTop;
      this.show(page.messages, { announce: false, older: true });
      ui.log.scrollTop = ui.log.scrollHeight - fromBottom;
      const olderFocused = document.activeElement === ui.older;
      this.olderExist = page.messages.length === PAGE_SIZE;
      this.showHistoryEdge();
      // The button disappears at the start of the room: keep keyboard focus
      // in the log instead of losing it to the page.
      if (olderFocused && ui.older.hidden) ui.log.focus();
    } catch (error) {
      if (this.signal.aborted || this.refused(error)) return;
      showNotice(`Could not load older messages: ${error.message}`);
    } finally {
      this.loadingOlder = false;
      ui.older.removeAttribute('aria-busy');
      ui.older.textContent = 'Load older messages';
    }
  }
}

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
class EventFollower {
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

/** The room named by the URL's hash, `general` when there is none. */
function roomFromHash() {
  let name = location.hash.slice(1);
  try {
    name = decodeURIComponent(name);
  } catch {
    // Not valid percent-encoding: the name check below rejects it.
  }
  if (name === '') return { room: DEFAULT_ROOM };
  if (ROOM_NAME.test(name)) return { room: name };
  return { room: DEFAULT_ROOM, rejected: name };
}

let view = null;

function openRoom() {
  const { room, rejected } = roomFromHash();
  if (view !== null) view.stop();
  ui.list.replaceChildren();
  ui.announcer.replaceChildren();
  ui.notice.hidden = true;
  ui.tokenForm.hidden = true;
  ui.jump.hidden = true;
  ui.older.hidden = true;
  ui.historyStart.hidden = true;
  if (rejected !== undefined) {
    showNotice(
      `“${rejected}” is not a room name (letters, digits, - and _, at most 64 characters); showing #${DEFAULT_ROOM}.`,
    );
  }
  ui.roomTitle.textContent = `#${room}`;
  ui.roomInput.value = room;
  document.title = `#${room} · Chat`;
  setStatus('connecting');
  view = new RoomView(room);
  view.run();
}

function showSendError(text) {
  ui.sendError.textContent = text;
  ui.sendError.hidden = false;
}

/** Why a send failed, for the user. */
function sendFailure(error, room) {
  if (!(error instanceof ServerError)) {
    return 'Not sent: the server could not be reached. Press Enter to try again.';
  }
  if (error.status === 401) {
    askForToken(error, `Posting in #${room} needs an access token.`);
    return 'Not sent: this needs an access token. Enter it above, then press Enter to send.';
  }
  return `Not sent: ${error.message}`;
}

let sending = false;

/** The message being sent or last failed, with its Idempotency-Key: sending the same
 * text, name and room again reuses the key, so lost answers never post twice. */
let pending = null;

function idempotencyKeyFor(path, body, author) {
  const same = pending?.path === path && pending.body === body && pending.author === author;
  if (!same) {
    // 128 random bits; crypto.randomUUID would need a secure context (https).
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    const key = Array.from(bytes, (byte) => byte.toString(16).padStart(2, '0')).join('');
    pending = { path, body, author, key };
  }
  return pending.key;
}

async function send(event) {
  event.preventDefault();
  if (sending) return;
  // With a token the server names the author; the page sends no name.
  const author = accessToken === null ? ui.author.value.trim() : null;
  if (document.activeElement === ui.author && ui.author.value.trim() !== '') {
    // Enter in the name field confirms the name and moves on to the message.
    if (author !== null) saveSetting(NAME_KEY, author);
    ui.body.focus();
    return;
  }
  const text = ui.body.value;
  if (text === '') return;
  if (author === '') {
    showSendError('Choose a name first.');
    ui.author.focus();
    return;
  }
  if (author !== null) saveSetting(NAME_KEY, author);
  const target = view;
  sending = true;
  ui.sendForm.setAttribute('aria-busy', 'true');
  try {
    // 201 stored now, or 200 stored by an earlier attempt: sent either way.
    const { data } = await request(target.path, {
      method: 'POST',
      json: author === null ? { body: text } : { body: text, author },
      headers: { 'Idempotency-Key': idempotencyKeyFor(target.path, text, author) },
      timeoutMs: QUICK_TIMEOUT_MS,
    });
    pending = null;
    // Typing may have gone on while the request was out: keep that.
    if (ui.body.value === text) ui.body.value = '';
    ui.sendError.hidden = true;
    if (author === null && typeof data?.author === 'string') {
      tokenName = data.author;
      ui.author.value = tokenName;
    }
    if (view === target) target.showOwn(data);
  } catch (error) {
    // The text stays in the box, so Enter tries again.
    showSendError(sendFailure(error, target.room));
  } finally {
    sending = false;
    ui.sendForm.removeAttribute('aria-busy');
  }
}

function start() {
  useTransport(transport);
  showTokenState();
  ui.author.addEventListener('change', () => {
    const name = ui.author.value.trim();
    if (name !== '' && accessToken === null) saveSetting(NAME_KEY, name);
  });
  ui.sendForm.addEventListener('submit', send);
  ui.roomForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const room = ui.roomInput.value.trim();
    if (ROOM_NAME.test(room)) location.hash = room;
  });
  ui.tokenForm.addEventListener('submit', (event) => {
    event.preventDefault();
    const token = ui.tokenInput.value.trim();
    if (token === '') return;
    setToken(token);
    openRoom();
    ui.body.focus();
  });
  ui.forgetToken.addEventListener('click', () => {
    setToken(null);
    openRoom();
  });
  ui.older.addEventListener('click', () => view.loadOlder());
  ui.jump.addEventListener('click', scrollToBottom);
  ui.log.addEventListener('scroll', () => {
    if (isAtBottom()) ui.jump.hidden = true;
  });
  // Following goes on in a hidden tab too: a chat should not lose its place.
  window.addEventListener('hashchange', openRoom);
  openRoom();
  (ui.author.value === '' && accessToken === null ? ui.author : ui.body).focus();
}

start();
