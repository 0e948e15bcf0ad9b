// Grants: who can read what, for what, until when; revoke.
import { get, del } from './api.js';
import {
  $, h, clear, announce, reportError, confirmDialog, timeEl, joinWords, plural, possessive,
} from './dom.js';
import { companyName, describeScope, describeScopeInline, purposeSentence } from './catalog.js';

const STATE_TEXT = { active: 'Active', revoked: 'Revoked', expired: 'Expired' };

function daysLeft(expiresAt) {
  const days = Math.ceil((expiresAt * 1000 - Date.now()) / 86400000);
  if (days <= 0) return 'ends today';
  return days === 1 ? 'ends tomorrow' : `${days} days left`;
}

function grantDates(g) {
  const parts = [h('span', {}, 'Given ', timeEl(g.created_at * 1000, false))];
  if (g.state === 'revoked' && g.revoked_at) parts.push(h('span', {}, 'Revoked ', timeEl(g.revoked_at * 1000, false)));
  else if (g.state === 'expired') parts.push(h('span', {}, 'Ended ', timeEl(g.expires_at * 1000, false)));
  else parts.push(h('span', {}, 'Until ', timeEl(g.expires_at * 1000, false), ` (${daysLeft(g.expires_at)})`));
  return h('p', { class: 'grant-dates' }, parts.flatMap((p, i) => (i ? [h('span', { class: 'sep', 'aria-hidden': 'true' }, ' · '), p] : [p])));
}

function grantRow(g, onRevoke, highlight) {
  const name = companyName(g.company);
  const state = STATE_TEXT[g.state] || g.state;
  const headingId = `grant-${g.id}-name`;
  return h('li', {
    class: `card grant grant-${g.state}${highlight ? ' is-new' : ''}`, id: `grant-${g.id}`,
    'data-testid': 'grant-row', 'data-grant-id': g.id, 'data-company': g.company, 'data-state': g.state,
    'aria-labelledby': headingId,
  },
  h('div', { class: 'grant-head' },
    h('h3', { id: headingId, class: 'grant-company' }, name),
    h('span', { class: `badge badge-${g.state}`, 'data-testid': 'grant-state' }, state)),
  h('p', { class: 'grant-purpose' }, h('span', { class: 'label' }, 'Purpose: '), purposeSentence(g.purpose)),
  h('div', { class: 'grant-scopes' },
    h('p', { class: 'label' }, g.state === 'active' ? 'Can read' : 'Could read'),
    h('ul', { class: 'scope-list' }, (g.scopes || []).map((s) => h('li', { 'data-scope': s }, describeScope(s))))),
  h('div', { class: 'grant-foot' },
    grantDates(g),
    g.state === 'active' ? h('div', { class: 'actions' },
      h('button', {
        type: 'button', class: 'btn btn-danger-outline btn-small', 'data-testid': `revoke-${g.id}`, 'data-action': 'revoke',
        'aria-describedby': headingId, onclick: (e) => onRevoke(g, e.currentTarget),
      }, 'Revoke access')) : null));
}

async function revoke(g, button) {
  const name = companyName(g.company);
  const what = joinWords((g.scopes || []).map(describeScopeInline));
  const ok = await confirmDialog({
    title: `Revoke ${possessive(name)} access?`,
    message: `${name} will immediately stop being able to read ${what}. To share again later, give access anew.`,
    confirm: 'Revoke access',
    danger: true,
  });
  if (!ok) { button.focus(); return; }
  button.disabled = true;
  try {
    await del(`/v1/me/grants/${encodeURIComponent(g.id)}`);
  } catch (e) {
    button.disabled = false;
    reportError(e, 'Access not revoked');
    return;
  }
  announce(`${name} can no longer read ${what}.`);
  await show(null, [], { focusAfterRevoke: true });
}

function byNewest(a, b) {
  return (b.revoked_at || b.created_at || 0) - (a.revoked_at || a.created_at || 0);
}

export async function show(app, [highlightId] = [], { focusAfterRevoke = false } = {}) {
  const body = $('#access-body');
  if (!body.firstChild || !focusAfterRevoke) clear(body, h('p', { class: 'loading' }, 'Loading access…'));
  let grants;
  try {
    grants = (await get('/v1/me/grants'))?.grants || [];
  } catch (e) {
    clear(body, h('p', { class: 'empty' }, 'The list of access could not be loaded.'));
    reportError(e, 'Could not load access');
    return;
  }
  const active = grants.filter((g) => g.state === 'active').sort(byNewest);
  const ended = grants.filter((g) => g.state !== 'active').sort(byNewest);
  clear(body,
    h('section', { 'aria-labelledby': 'access-active-heading', class: 'stack' },
      h('h2', { id: 'access-active-heading', class: 'section-title', tabindex: '-1' },
        `Active (${active.length})`),
      active.length
        ? h('ul', { class: 'grant-list', 'data-testid': 'grants-active' }, active.map((g) => grantRow(g, revoke, g.id === highlightId)))
        : h('div', { class: 'card empty-card' },
          h('p', {}, 'No company can read your profile right now.'),
          h('p', {}, h('a', { href: '#/companies', class: 'btn btn-primary btn-small' }, 'Browse companies')))),
    ended.length ? h('section', { 'aria-labelledby': 'access-ended-heading', class: 'stack' },
      h('details', { class: 'ended' },
        h('summary', { id: 'access-ended-heading' }, `Ended (${plural(ended.length, 'grant', 'grants')})`),
        h('ul', { class: 'grant-list', 'data-testid': 'grants-ended' }, ended.map((g) => grantRow(g, revoke, false))))) : null);
  if (focusAfterRevoke) $('#access-active-heading').focus();
  if (highlightId) $(`#grant-${CSS.escape(highlightId)}`)?.scrollIntoView({ block: 'nearest' });
}
