// The page's own elements and what every part of it shows: the status
// badge, notices, following the bottom of the log, and the screen-reader
// announcements.

/** Within this many pixels of the bottom, the view follows new messages. */
const FOLLOW_SLACK_PX = 48;
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
export const ui = {
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

export function setStatus(state) {
  if (ui.status.dataset.state === state) return;
  ui.status.dataset.state = state;
  ui.status.textContent = STATUS_TEXT[state];
}

export function showNotice(text) {
  ui.notice.textContent = text;
  ui.notice.hidden = false;
}

export function isAtBottom() {
  const { scrollHeight, scrollTop, clientHeight } = ui.log;
  return scrollHeight - scrollTop - clientHeight <= FOLLOW_SLACK_PX;
}

export function scrollToBottom() {
  ui.log.scrollTop = ui.log.scrollHeight;
  ui.jump.hidden = true;
}

export function announce(message) {
  const line = document.createElement('p');
  line.textContent = `${message.author ?? 'anonymous'}: ${message.body}`;
  ui.announcer.append(line);
  while (ui.announcer.childElementCount > ANNOUNCEMENTS_KEPT) ui.announcer.firstElementChild.remove();
}
