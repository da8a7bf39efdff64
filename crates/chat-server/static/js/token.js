// What the browser keeps: the name and the access token, in localStorage
// (with storage disabled they last as long as the page), and the token
// prompt.

import { setStatus, ui } from './page.js';

export const NAME_KEY = 'chat.name';
const TOKEN_KEY = 'chat.token';

function loadSetting(key) {
  try {
    return localStorage.getItem(key);
  } catch {
    return null;
  }
}

export function saveSetting(key, value) {
  try {
    if (value === null) localStorage.removeItem(key);
    else localStorage.setItem(key, value);
  } catch {
    // storage disabled: nothing is kept
  }
}

/** The access token sent with every request, or null for none. */
export let accessToken = loadSetting(TOKEN_KEY);
/** The author name the server gives the token's messages, once a post told it. */
let tokenName = null;

/** Keeps (or, with null, forgets) the token, and shows what it changes: the
 * "forget token" control, and the name field, which a token fills in. */
export function setToken(token) {
  accessToken = token;
  tokenName = null;
  saveSetting(TOKEN_KEY, token);
  showTokenState();
}

export function showTokenState() {
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
export function askForToken(error, why) {
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

/** The author name the server gave the token's messages (a post's answer
 * says it): shown in the name field, which a token fills in. */
export function learnTokenName(name) {
  tokenName = name;
  ui.author.value = name;
}
