// The access log in plain words, newest first, with "Load more".
import { get } from './api.js';
import {
  $, h, clear, reportError, timeEl, joinWords, formatDate, possessive,
} from './dom.js';
import { companyName, describeField, describeScopeInline, purposeLabel } from './catalog.js';

const PAGE = 50;
const state = { items: [], next: null };

export function reset() {
  state.items = [];
  state.next = null;
}

const scopesOf = (item) => (Array.isArray(item.scopes) ? item.scopes : String(item.scopes || '').split(' ').filter(Boolean));
const scopeWords = (item) => {
  const list = scopesOf(item);
  return list.length ? joinWords(list.map(describeScopeInline)) : 'parts of your profile';
};

// A record of several close reads carries their number in `count` (the time
// shown stays `ts`, the last of them).
const readTimes = (item) => {
  const n = Number(item.count);
  return Number.isInteger(n) && n > 1 ? ` ${n} times` : '';
};

// One sentence per event (without the time, which follows it).
export function sentence(item) {
  const who = companyName(item.company || '');
  switch (item.kind) {
    case 'session.created':
      return 'You signed in';
    case 'profile.read': {
      const fields = Array.isArray(item.fields) ? item.fields : [];
      return `${who} read ${fields.length ? joinWords(fields.map(describeField)) : 'your profile'}${readTimes(item)}`;
    }
    case 'grant.created':
      return `You gave ${who} access to ${scopeWords(item)}${item.purpose ? ` for ${purposeLabel(item.purpose).toLowerCase()}` : ''}`;
    case 'grant.revoked':
      return `You revoked ${possessive(who)} access to ${scopeWords(item)}`;
    case 'token.issued':
      return `${who} connected and can read ${scopeWords(item)}`;
    case 'token.refreshed':
      return `${who} renewed its access to ${scopeWords(item)}`;
    default:
      return `${item.company ? `${who}: ` : ''}${String(item.kind || 'event').replace(/[._]/g, ' ')}`;
  }
}

const KIND_TAG = {
  'session.created': 'Sign-in',
  'profile.read': 'Read',
  'grant.created': 'Access given',
  'grant.revoked': 'Access revoked',
  'token.issued': 'Connected',
  'token.refreshed': 'Renewed',
};

function itemEl(item) {
  const ms = Math.floor(Number(item.ts) / 1000);
  return h('li', { class: `event event-${String(item.kind).replace(/\W/g, '-')}`, 'data-testid': 'activity-item', 'data-kind': item.kind, 'data-id': item.id },
    h('span', { class: 'event-tag' }, KIND_TAG[item.kind] || 'Event'),
    h('p', { class: 'event-text' }, sentence(item), ' on ', timeEl(ms)));
}

function dayKey(item) {
  return formatDate(Math.floor(Number(item.ts) / 1000));
}

function renderList(body) {
  if (!state.items.length) {
    clear(body, h('div', { class: 'card empty-card', 'data-testid': 'activity-list' }, h('p', {}, 'Nothing has happened yet.')));
    return;
  }
  // Grouped by day, each day a heading and a list.
  const groups = [];
  for (const item of state.items) {
    const key = dayKey(item);
    if (!groups.length || groups[groups.length - 1].key !== key) groups.push({ key, items: [] });
    groups[groups.length - 1].items.push(item);
  }
  const more = state.next ? h('div', { class: 'actions actions-center' },
    h('button', { type: 'button', class: 'btn btn-secondary', id: 'activity-more', 'data-testid': 'activity-more', onclick: loadMore }, 'Load more')) : null;
  clear(body,
    h('div', { class: 'card activity', 'data-testid': 'activity-list' },
      groups.map((g) => h('section', { class: 'day', 'aria-label': g.key },
        h('h2', { class: 'day-title' }, g.key),
        h('ul', { class: 'events' }, g.items.map(itemEl))))),
    more,
    state.next ? null : h('p', { class: 'end-note' }, 'That is everything.'));
}

async function fetchPage(cursor) {
  const q = new URLSearchParams({ limit: String(PAGE) });
  if (cursor) q.set('cursor', cursor);
  const data = await get(`/v1/me/audit?${q}`);
  return { items: Array.isArray(data?.items) ? data.items : [], next: data?.next || null };
}

async function loadMore(e) {
  const button = e.currentTarget;
  button.disabled = true;
  button.textContent = 'Loading…';
  const before = state.items.length;
  try {
    const page = await fetchPage(state.next);
    state.items.push(...page.items);
    state.next = page.next;
  } catch (err) {
    button.disabled = false;
    button.textContent = 'Load more';
    reportError(err, 'Could not load more');
    return;
  }
  const body = $('#activity-body');
  renderList(body);
  // Continue where the reader was: the first new entry.
  const first = body.querySelectorAll('[data-testid="activity-item"]')[before];
  if (first) {
    first.setAttribute('tabindex', '-1');
    first.focus();
  }
}

export async function show() {
  const body = $('#activity-body');
  clear(body, h('p', { class: 'loading' }, 'Loading activity…'));
  try {
    const page = await fetchPage(null);
    state.items = page.items;
    state.next = page.next;
  } catch (e) {
    clear(body, h('p', { class: 'empty' }, 'Your activity could not be loaded.'));
    reportError(e, 'Could not load activity');
    return;
  }
  renderList(body);
}
