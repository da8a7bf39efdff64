// One open room: its history, the one `receive` every page of messages goes
// through, and the long poll (or the event stream, see event-follower.js).

import { EventFollower } from './event-follower.js';
import {
  QUICK_TIMEOUT_MS,
  ServerError,
  backoffDelay,
  isMessage,
  maxPollTimeout,
  request,
  sleep,
} from './http.js';
import { transport, useTransport, windowSize } from './options.js';
import { announce, isAtBottom, scrollToBottom, setStatus, showNotice, ui } from './page.js';
import { placeInOrder, renderMessage } from './render.js';
import { askForToken } from './token.js';

/** Messages per history page: the recent history and each "load older". */
const PAGE_SIZE = 50;
/** Seconds a poll may wait when nothing is new; less if Chat-Max-Poll-Timeout says so. */
const POLL_TIMEOUT_SECS = 30;
/** Between polls to a server that allows no waiting at all. */
const NO_WAIT_POLL_INTERVAL_MS = 2_000;
/** A poll unanswered this long after its timeout is on a dead connection. */
const POLL_GRACE_MS = 10_000;
/** An empty poll answer sooner than this came from a server shutting down. */
const EARLY_ANSWER_MS = 1_000;
/** The nil UUID: "from the very start", the cursor of an empty room. */
const NIL_UUID = '00000000-0000-0000-0000-000000000000';

/** One open room: its history, how it follows the room and what it has shown. */
export class RoomView {
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
