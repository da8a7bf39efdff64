// The chat page: shows a room's recent history, follows new messages over
// server-sent events (long polling where streams do not get through, or with
// `/?transport=long-poll`) and posts new ones; asks for an access token when
// the server wants one. Plain JavaScript modules served by chat-server
// itself, no build step.
//
// This module switches rooms and runs the composer; the rest is in js/:
// page.js (the page's elements, status, notices), options.js (what the URL
// asks for), token.js (what the browser keeps, the token prompt), http.js
// (requests and errors), render.js (messages as list items), room-view.js
// (a room's history and long poll) and event-follower.js (event streams).

import { QUICK_TIMEOUT_MS, ServerError, request } from './js/http.js';
import { transport, useTransport } from './js/options.js';
import { isAtBottom, scrollToBottom, setStatus, showNotice, ui } from './js/page.js';
import { RoomView } from './js/room-view.js';
import {
  NAME_KEY,
  accessToken,
  askForToken,
  learnTokenName,
  saveSetting,
  setToken,
  showTokenState,
} from './js/token.js';

/** Room names of the HTTP contract. */
const ROOM_NAME = /^[A-Za-z0-9_-]{1,64}$/;
const DEFAULT_ROOM = 'general';

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
    if (author === null && typeof data?.author === 'string') learnTokenName(data.author);
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
