// Small DOM and formatting helpers shared by every view.

// h('p', {class: 'x'}, 'text', child, [more]) builds an element. Text is
// always inserted as text, never parsed as HTML.
export function h(tag, attrs, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key === 'class') el.className = value;
    else if (key === 'dataset') Object.assign(el.dataset, value);
    else if (key.startsWith('on') && typeof value === 'function') {
      el.addEventListener(key.slice(2), value);
    } else if (key === 'value' || key === 'checked' || key === 'selected') {
      el[key] = value;
    } else el.setAttribute(key, value === true ? '' : String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : String(child));
  }
}

export function clear(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

export const $ = (sel, root = document) => root.querySelector(sel);
export const $$ = (sel, root = document) => [...root.querySelectorAll(sel)];

let uid = 0;
export const nextId = (prefix) => `${prefix}-${++uid}`;

// ---- status and error announcements ------------------------------------

function messageBox(kind, icon, body) {
  return h('div', { class: `message message-${kind}` },
    h('span', { class: 'message-icon', 'aria-hidden': 'true' }, icon),
    h('div', { class: 'message-body' }, body),
    h('button', { type: 'button', class: 'message-close', 'aria-label': 'Dismiss', onclick: dismissMessages }, '×'));
}

// A short confirmation, read politely by screen readers.
export function announce(message) {
  $('#alert').replaceChildren();
  clear($('#status'), messageBox('ok', '✓', h('p', { 'data-testid': 'status-text' }, message)));
}

// An error, read at once by screen readers; stays until dismissed or replaced.
export function alertError(message, title = 'Something went wrong') {
  $('#status').replaceChildren();
  const box = messageBox('error', '!', [
    h('p', { class: 'message-title' }, title),
    h('p', { 'data-testid': 'error-text' }, message),
  ]);
  clear($('#alert'), box);
  const top = box.getBoundingClientRect().top;
  if (top < 0 || top > window.innerHeight - 40) box.scrollIntoView({ block: 'nearest' });
}

export function dismissMessages() {
  $('#status').replaceChildren();
  $('#alert').replaceChildren();
}

// Shows an error inside a form, next to its buttons. The slot is a live
// region (role="alert"), so screen readers read it out at once.
export function formError(form, message, title = 'Not saved') {
  const slot = form.querySelector('.form-error');
  if (!slot) { alertError(message, title); return; }
  dismissMessages();
  clear(slot, h('strong', {}, `${title}: `), message);
}

export function clearFormError(form) {
  const slot = form.querySelector('.form-error');
  if (slot) slot.replaceChildren();
  for (const el of form.querySelectorAll('[aria-invalid="true"]')) el.removeAttribute('aria-invalid');
}

// Disables a form's buttons while a request runs, and marks the one clicked.
export async function busy(form, fn) {
  const buttons = [...form.querySelectorAll('button')];
  const before = buttons.map((b) => b.disabled);
  buttons.forEach((b) => { b.disabled = true; });
  form.setAttribute('aria-busy', 'true');
  try {
    return await fn();
  } finally {
    buttons.forEach((b, i) => { b.disabled = before[i]; });
    form.removeAttribute('aria-busy');
  }
}

// ---- confirmation dialog ------------------------------------------------

// Resolves true when the person confirms. `typed` asks them to type a word
// (e.g. their login) before the confirm button works.
export function confirmDialog({ title, message, confirm = 'Confirm', danger = false, typed = null }) {
  const dialog = $('#confirm');
  const ok = $('#confirm-ok');
  const input = $('#confirm-input');
  clear($('#confirm-title'), title);
  clear($('#confirm-message'), message);
  ok.textContent = confirm;
  ok.className = danger ? 'btn btn-danger' : 'btn btn-primary';
  $('#confirm-typed').hidden = !typed;
  input.value = '';
  if (typed) clear($('#confirm-input-label'), `Type ${typed} to confirm`);
  ok.disabled = Boolean(typed);
  const onInput = () => { ok.disabled = input.value.trim().toLowerCase() !== String(typed).toLowerCase(); };
  // Enter in the text box confirms (the form's first button is Cancel).
  const onKey = (e) => {
    if (e.key !== 'Enter') return;
    e.preventDefault();
    if (!ok.disabled) dialog.close('ok');
  };
  input.addEventListener('input', onInput);
  input.addEventListener('keydown', onKey);
  return new Promise((resolve) => {
    dialog.addEventListener('close', () => {
      input.removeEventListener('input', onInput);
      input.removeEventListener('keydown', onKey);
      resolve(dialog.returnValue === 'ok');
    }, { once: true });
    dialog.returnValue = '';
    dialog.showModal();
    (typed ? input : $('#confirm-cancel')).focus();
  });
}

// ---- formatting ---------------------------------------------------------

const dateTimeFmt = new Intl.DateTimeFormat('en-GB', {
  day: 'numeric', month: 'short', year: 'numeric', hour: '2-digit', minute: '2-digit',
});
const dateFmt = new Intl.DateTimeFormat('en-GB', { day: 'numeric', month: 'short', year: 'numeric' });
const listFmt = new Intl.ListFormat('en-GB', { style: 'long', type: 'conjunction' });

export const formatDateTime = (ms) => dateTimeFmt.format(new Date(ms));
export const formatDate = (ms) => dateFmt.format(new Date(ms));
export const joinWords = (items) => listFmt.format(items.map(String));

// A <time> element showing a date (and time) in plain words.
export function timeEl(ms, withTime = true) {
  const d = new Date(ms);
  return h('time', { datetime: d.toISOString() }, withTime ? formatDateTime(ms) : formatDate(ms));
}

export function plural(n, one, many) {
  return `${n} ${n === 1 ? one : many}`;
}

// "Acme's", "Northwind Foods'"
export const possessive = (name) => `${name}${/s$/i.test(name) ? '’' : '’s'}`;

// "favourite_colours" -> "favourite colours"
export const words = (key) => String(key).replace(/_/g, ' ');

// Shows an API or other error in plain words. A lost session (401) is not
// reported here: the page already switched to the sign-in form.
export function reportError(error, title, form = null) {
  if (error?.status === 401) return;
  const message = error?.detail || error?.message || String(error);
  if (form) formError(form, message, title);
  else alertError(message, title);
}
