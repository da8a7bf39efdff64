// What the page's URL asks for: how many messages it keeps (`?window=`) and
// how it follows rooms (`?transport=`), which streams that do not get
// through change for the rest of the page's life.

import { ui } from './page.js';

/** The newest messages kept on the page, so an open tab does not grow without end. */
const DEFAULT_WINDOW = 500;

/** A parameter of the page's own URL (`?window=`, `?transport=`), or null. */
function pageParameter(name) {
  return new URLSearchParams(location.search).get(name);
}

/** How many messages the page keeps: `?window=N` in its URL, else the default. */
export function windowSize() {
  const asked = Number(pageParameter('window'));
  return Number.isInteger(asked) && asked > 0 ? asked : DEFAULT_WINDOW;
}

/** How rooms are followed: `events` (EventSource) unless the URL asks for
 * `?transport=long-poll` or the browser has no EventSource; it becomes
 * `long-poll` for the rest of the page's life when streams do not get
 * through. Shown on the status badge as `data-transport`. */
export let transport =
  pageParameter('transport') === 'long-poll' || !window.EventSource ? 'long-poll' : 'events';

export function useTransport(name, why) {
  if (why !== undefined) console.warn(`chat: ${why}; following rooms by ${name} now`);
  transport = name;
  ui.status.dataset.transport = name;
}
