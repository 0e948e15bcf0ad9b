// The consent screen for a company's "Connect" link (/oauth/authorize?…).
import { get, post } from './api.js';
import {
  $, h, clear, busy, clearFormError, formError, reportError, announce, joinWords,
} from './dom.js';
import { describeScope, PURPOSES } from './catalog.js';
import { expiryChooser } from './expiry.js';
import { siteLink } from './companies.js';

const query = () => window.location.search.replace(/^\?/, '');

function purposeLine(id) {
  const p = PURPOSES.find((x) => x.id === id);
  return p ? [h('strong', {}, p.label), ` — ${p.text}`] : String(id);
}

function hostOf(url) {
  try { return new URL(url).host; } catch { return ''; }
}

// The broker may name where to send the customer back with the error.
function backLink(problem) {
  const url = problem?.redirect;
  if (typeof url !== 'string' || !/^https?:\/\//i.test(url)) return null;
  return h('a', { href: url, class: 'btn btn-primary', 'data-testid': 'consent-return' },
    `Return to ${hostOf(url) || 'the company'}`);
}

function errorScreen(body, error) {
  clear(body,
    h('div', { class: 'view-head' },
      h('h1', { id: 'consent-heading' }, 'This connection link cannot be used')),
    h('div', { class: 'card', 'data-testid': 'consent-error' },
      h('p', {}, h('strong', {}, 'What went wrong: '), error.detail || String(error)),
      h('p', {}, 'Nothing was shared. The company that sent you here may have made a mistake, or the link was changed.'),
      h('div', { class: 'actions' },
        backLink(error.problem),
        h('a', { href: '/', class: 'btn btn-secondary' }, 'Go to your CCX profile'))));
}

function leaving(body, name) {
  clear(body,
    h('div', { class: 'view-head' },
      h('h1', { id: 'consent-heading', tabindex: '-1' }, `Taking you back to ${name}…`)),
    h('p', { class: 'loading' }, 'One moment.'));
  $('#consent-heading').focus();
}

// The broker's label, or ours when it only repeats the path.
function scopeLabel(s) {
  const path = String(s.scope).replace(/^read:/, '');
  return s.label && s.label !== path && s.label !== s.scope ? s.label : describeScope(s.scope);
}

function scopeBox(s, i) {
  const id = `consent-scope-${i}`;
  return h('div', { class: 'check' },
    h('input', { type: 'checkbox', id, value: s.scope, checked: true, 'data-scope': s.scope, 'data-testid': `consent-scope-${s.scope}` }),
    h('label', { for: id }, scopeLabel(s)));
}

function render(app, body, req) {
  const client = req.client || {};
  const name = client.name || client.id || 'A company';
  const back = hostOf(req.redirect_uri);
  const scopes = Array.isArray(req.scopes) ? req.scopes : [];
  const expiry = expiryChooser({
    name: 'consent-expiry', testid: 'consent-expiry', legend: 'For how long?',
    defaultAt: req.expires_at || null, maxAt: req.max_expires_at || null,
  });
  const form = h('form', { id: 'consent-form', 'data-testid': 'consent-form', novalidate: true },
    h('section', { class: 'card', 'aria-labelledby': 'consent-what' },
      h('fieldset', { class: 'field group' },
        h('legend', { id: 'consent-what', class: 'card-title' }, 'What they are asking to read'),
        h('p', { class: 'hint' }, 'Untick anything you do not want to share.'),
        h('div', { class: 'radio-list', 'data-testid': 'consent-scopes' }, scopes.map(scopeBox)))),
    h('section', { class: 'card' }, expiry.element),
    h('p', { class: 'consent-fine' },
      `You can revoke this at any time under Access.${back ? ` After you decide, you go back to ${back}.` : ''}`),
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions consent-actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', id: 'consent-approve', 'data-testid': 'consent-approve' }, 'Approve'),
      h('button', { type: 'button', class: 'btn btn-secondary', id: 'consent-deny', 'data-testid': 'consent-deny' }, 'Deny')));

  clear(body,
    h('div', { class: 'consent-head' },
      h('p', { class: 'eyebrow' }, 'Connection request'),
      h('h1', { id: 'consent-heading' }, `${name} would like to read parts of your profile`),
      h('p', { class: 'company-line' }, client.description || null, client.description && client.site ? ' · ' : null, siteLink(client.site))),
    h('section', { class: 'card', 'aria-labelledby': 'consent-why' },
      h('h2', { class: 'card-title', id: 'consent-why' }, 'Why'),
      h('p', { 'data-testid': 'consent-purpose' }, purposeLine(req.purpose))),
    form);

  const decide = (decision) => busy(form, async () => {
    clearFormError(form);
    const picked = [...form.querySelectorAll('input[data-scope]:checked')].map((b) => b.value);
    const until = expiry.value();
    if (decision === 'approve') {
      if (!picked.length) {
        formError(form, 'Tick at least one item to share, or choose Deny.', 'Nothing chosen');
        form.querySelector('input[data-scope]')?.focus();
        return;
      }
      if (until.error) { formError(form, until.error, 'Not yet'); return; }
    }
    try {
      const res = await post('/v1/authorize', {
        query: query(), decision, scopes: picked, expires_at: until.at || req.expires_at,
      });
      if (!res || typeof res.redirect !== 'string') throw new Error('The broker did not say where to go next.');
      if (decision === 'approve') {
        announce(`${name} can now read ${joinWords(picked.map((s) => scopeLabel(scopes.find((x) => x.scope === s) || { scope: s })))}.`);
      }
      leaving(body, name);
      window.location.assign(res.redirect);
    } catch (err) {
      if (err.status !== 401 && err.problem?.redirect) errorScreen(body, err);
      else reportError(err, decision === 'approve' ? 'Not approved' : 'Not denied', form);
    }
  });
  form.addEventListener('submit', (e) => { e.preventDefault(); decide('approve'); });
  $('#consent-deny').addEventListener('click', () => decide('deny'));
}

export async function show(app) {
  const body = $('#consent-body');
  clear(body, h('div', { class: 'view-head' }, h('h1', { id: 'consent-heading' }, 'Connection request')), h('p', { class: 'loading' }, 'Loading…'));
  let req;
  try {
    req = await get(`/v1/authorize?${query()}`);
  } catch (e) {
    if (e.status === 401) return;
    errorScreen(body, e);
    return;
  }
  render(app, body, req);
}
