// Messages as list items, kept in id order. Author and body only ever go in
// through textContent, so a body is shown as typed, never parsed as HTML.

import { ui } from './page.js';

/** Author colour classes c0..c7 in app.css. */
const AUTHOR_COLOURS = 8;

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
export function renderMessage(message) {
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
export function placeInOrder(item) {
  const id = item.dataset.id;
  let before = ui.list.lastElementChild;
  while (before !== null && before.dataset.id > id) before = before.previousElementSibling;
  if (before === null) ui.list.prepend(item);
  else before.after(item);
}
