// The company directory, and the form to give one company access.
import { get, post } from './api.js';
import {
  $, h, clear, busy, clearFormError, formError, reportError, joinWords, formatDate, plural, words,
} from './dom.js';
import {
  loadCatalog, loadCompanies, company, companyName, describeScopeInline, PURPOSES,
} from './catalog.js';
import { currentProfile } from './profile.js';
import { expiryChooser } from './expiry.js';

const siteHost = (url) => {
  try { return new URL(url).host; } catch { return url; }
};

// A link to a company's own site, only for http(s) addresses.
export function siteLink(url) {
  if (!url || !/^https?:\/\//i.test(url)) return null;
  return h('a', { href: url, rel: 'noopener noreferrer', target: '_blank', class: 'site-link' },
    siteHost(url), h('span', { class: 'visually-hidden' }, ' (opens in a new tab)'));
}

async function activeGrants() {
  try {
    const data = await get('/v1/me/grants');
    return (data?.grants || []).filter((g) => g.state === 'active');
  } catch (e) {
    if (e.status === 401) throw e;
    return [];
  }
}

function companyCard(c, grants) {
  const mine = grants.filter((g) => g.company === c.id);
  return h('li', { class: 'card company-card', 'data-testid': `company-${c.id}`, 'data-company-id': c.id },
    h('h2', { class: 'card-title' }, c.name || c.id),
    c.description ? h('p', { class: 'company-desc' }, c.description) : null,
    siteLink(c.site),
    h('p', { class: `company-access${mine.length ? ' has-access' : ''}` },
      mine.length ? `Has access: ${plural(mine.length, 'active grant', 'active grants')}` : 'No access to your profile'),
    h('div', { class: 'actions' },
      h('a', { href: `#/companies/${encodeURIComponent(c.id)}`, class: 'btn btn-primary btn-small', 'data-testid': `share-${c.id}` },
        'Give access', h('span', { class: 'visually-hidden' }, ` to ${c.name || c.id}`)),
      mine.length ? h('a', { href: '#/access', class: 'btn btn-quiet btn-small' }, 'See access') : null));
}

export async function show() {
  const body = $('#companies-body');
  clear(body, h('p', { class: 'loading' }, 'Loading companies…'));
  let list;
  let grants;
  try {
    [list, grants] = await Promise.all([loadCompanies(true), activeGrants()]);
  } catch (e) {
    clear(body, h('p', { class: 'empty' }, 'The company directory could not be loaded.'));
    reportError(e, 'Could not load companies');
    return;
  }
  if (!list.length) {
    clear(body, h('p', { class: 'empty card' }, 'No companies work with CCX yet.'));
    return;
  }
  clear(body, h('ul', { class: 'company-grid' }, list.map((c) => companyCard(c, grants))));
}

// ---- give access ---------------------------------------------------------

const scopeId = (scope) => `scope-${scope.replace(/[^a-z0-9]+/gi, '-')}`;

function scopeCheckbox(scope, label, extra = {}) {
  const id = scopeId(scope);
  const box = h('input', { type: 'checkbox', id, value: scope, 'data-scope': scope, 'data-testid': `scope-${scope}`, ...extra.attrs });
  return {
    box,
    element: h('div', { class: 'check' }, box,
      h('div', {}, h('label', { for: id }, label), extra.hint ? h('p', { class: 'hint' }, extra.hint) : null)),
  };
}

// One catalog section: "all of it" plus its fields. Ticking the section
// covers every field (and any added later), so the field boxes follow it.
function sectionChooser(section, profile, preset) {
  const key = section.scope.replace(/^read:/, '');
  const empty = profile && profile[key] === undefined;
  const all = scopeCheckbox(section.scope, section.label, {
    hint: `${section.fields?.length ? 'All of it, including anything you add later.' : ''}${empty ? ' Not filled in yet.' : ''}`.trim() || null,
  });
  const fields = (section.fields || []).map((f) => scopeCheckbox(f.scope, f.label));
  const sync = () => {
    for (const f of fields) {
      if (all.box.checked) f.box.checked = true;
      f.box.disabled = all.box.checked;
    }
  };
  all.box.addEventListener('change', () => {
    if (!all.box.checked) for (const f of fields) f.box.checked = false;
    sync();
  });
  if (preset.has(section.scope)) all.box.checked = true;
  for (const f of fields) if (preset.has(f.box.value)) f.box.checked = true;
  sync();
  return h('div', { class: 'scope-section' }, all.element,
    fields.length ? h('div', { class: 'scope-fields' }, fields.map((f) => f.element)) : null);
}

// The scopes ticked in a form: a ticked section makes its fields redundant.
function pickedScopes(form) {
  const picked = [...form.querySelectorAll('input[data-scope]:checked')].map((b) => b.value);
  return picked.filter((s) => !picked.some((p) => p !== s && s.startsWith(`${p}.`)));
}

function purposeChooser(selected) {
  return h('fieldset', { class: 'field group', 'data-testid': 'grant-purpose' },
    h('legend', {}, 'Why may they use it?'),
    h('div', { class: 'radio-list' }, PURPOSES.map((p) => {
      const id = `purpose-${p.id}`;
      return h('div', { class: 'check' },
        h('input', { type: 'radio', name: 'purpose', id, value: p.id, checked: p.id === selected, 'data-testid': `purpose-${p.id}` }),
        h('label', { for: id }, h('strong', {}, p.label), ` — ${p.text}`));
    })));
}

function existingNote(c, grants) {
  const mine = grants.filter((g) => g.company === c.id);
  if (!mine.length) return null;
  const scopes = [...new Set(mine.flatMap((g) => g.scopes || []))].map(describeScopeInline);
  return h('p', { class: 'notice' },
    `${c.name || c.id} can already read ${joinWords(scopes)}. A new grant adds to that; `,
    h('a', { href: '#/access' }, 'see or revoke access'), '.');
}

export async function showShare(app, [companyId]) {
  const body = $('#share-body');
  clear(body, h('p', { class: 'loading' }, 'Loading…'));
  let catalog;
  let list;
  let profile = null;
  let grants = [];
  try {
    [catalog, list, grants] = await Promise.all([loadCatalog(), loadCompanies(), activeGrants()]);
    profile = await currentProfile().catch(() => null);
  } catch (e) {
    clear(body, h('p', { class: 'empty' }, 'This page could not be loaded.'));
    reportError(e, 'Could not load');
    return;
  }
  const chosen = company(companyId);
  $('#share-heading').textContent = chosen ? `Give ${chosen.name || chosen.id} access` : 'Give a company access';
  if (!list.length) {
    clear(body, h('p', { class: 'empty card' }, 'No companies work with CCX yet.'));
    return;
  }
  renderShareForm(app, body, { catalog, list, profile, grants, chosen });
}

function renderShareForm(app, body, { catalog, list, profile, grants, chosen }) {
  const standard = new Set(catalog.sections.map((s) => s.scope.replace(/^read:/, '')));
  const otherKeys = Object.keys(profile || {}).filter((k) => !standard.has(k));
  const expiry = expiryChooser({ name: 'grant-expiry', testid: 'grant-expiry' });
  const preset = new Set();
  const companySelect = h('select', { id: 'grant-company', name: 'company', 'data-testid': 'grant-company' },
    chosen ? null : h('option', { value: '' }, 'Choose a company'),
    list.map((c) => h('option', { value: c.id, selected: chosen?.id === c.id }, c.name || c.id)));
  const summaryLine = h('p', { class: 'grant-summary', id: 'grant-summary', 'data-testid': 'grant-summary' });
  const noteSlot = h('div', {}, chosen ? existingNote(chosen, grants) : null);
  const companyInfo = h('div', { class: 'company-info' });

  const form = h('form', { id: 'grant-form', 'data-testid': 'grant-form', novalidate: true },
    h('section', { class: 'card', 'aria-labelledby': 'grant-who' },
      h('h2', { class: 'card-title', id: 'grant-who' }, 'Who'),
      h('div', { class: 'field' }, h('label', { for: 'grant-company' }, 'Company'), companySelect),
      companyInfo,
      noteSlot),
    h('section', { class: 'card', 'aria-labelledby': 'grant-what' },
      h('h2', { class: 'card-title', id: 'grant-what' }, 'What they may read'),
      h('fieldset', { class: 'field group scope-tree', 'data-testid': 'grant-scopes' },
        h('legend', { class: 'visually-hidden' }, 'Parts of your profile'),
        catalog.sections.map((s) => sectionChooser(s, profile, preset)),
        otherKeys.length ? h('div', { class: 'scope-section' },
          h('p', { class: 'scope-other-title' }, 'Your other sections'),
          otherKeys.map((k) => scopeCheckbox(`read:${k}`, `Your ${words(k)}`).element)) : null)),
    h('section', { class: 'card', 'aria-labelledby': 'grant-why' },
      h('h2', { class: 'card-title', id: 'grant-why' }, 'Why and for how long'),
      purposeChooser(null),
      expiry.element),
    h('div', { class: 'card card-submit' },
      summaryLine,
      h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn btn-primary', id: 'grant-submit', 'data-testid': 'grant-submit' }, 'Give access'),
        h('a', { href: '#/companies', class: 'btn btn-secondary' }, 'Cancel'))));

  const updateCompany = () => {
    const c = company(companySelect.value);
    clear(companyInfo, c ? [c.description ? h('p', { class: 'company-desc' }, c.description) : null, siteLink(c.site)] : null);
    clear(noteSlot, c ? existingNote(c, grants) : null);
    updateSummary();
  };
  const updateSummary = () => {
    const scopes = pickedScopes(form);
    const purpose = form.querySelector('input[name="purpose"]:checked')?.value;
    const until = expiry.value();
    const who = companySelect.value ? companyName(companySelect.value) : 'The company';
    if (!scopes.length) {
      summaryLine.textContent = 'Tick at least one part of your profile to share.';
      return;
    }
    const what = scopes.length <= 3 ? joinWords(scopes.map(describeScopeInline)) : plural(scopes.length, 'part', 'parts') + ' of your profile';
    summaryLine.textContent = `${who} will be able to read ${what}`
      + `${purpose ? ` for ${PURPOSES.find((p) => p.id === purpose).label.toLowerCase()}` : ''}`
      + `${until.at ? ` until ${formatDate(until.at * 1000)}` : ''}.`;
  };
  companySelect.addEventListener('change', updateCompany);
  form.addEventListener('change', updateSummary);
  expiry.onChange(updateSummary);
  form.addEventListener('submit', (e) => { e.preventDefault(); submitGrant(app, form, companySelect, expiry); });
  clear(body, form);
  updateCompany();
}

async function submitGrant(app, form, companySelect, expiry) {
  clearFormError(form);
  const companyId = companySelect.value;
  const scopes = pickedScopes(form);
  const purpose = form.querySelector('input[name="purpose"]:checked')?.value;
  const until = expiry.value();
  const problem = (!companyId && ['Choose a company.', companySelect])
    || (!scopes.length && ['Tick at least one part of your profile to share.', form.querySelector('input[data-scope]')])
    || (!purpose && ['Choose why they may use it.', form.querySelector('input[name="purpose"]')])
    || (until.error && [until.error, form.querySelector('#grant-expiry-date')]);
  if (problem) {
    formError(form, problem[0], 'Not yet');
    problem[1]?.focus();
    return;
  }
  await busy(form, async () => {
    try {
      const grant = await post('/v1/me/grants', { company: companyId, scopes, purpose, expires_at: until.at });
      const what = joinWords((grant?.scopes || scopes).map(describeScopeInline));
      app.navigate(`#/access${grant?.id ? `/${encodeURIComponent(grant.id)}` : ''}`,
        `${companyName(companyId)} can now read ${what} until ${formatDate((grant?.expires_at || until.at) * 1000)}.`);
    } catch (err) {
      reportError(err, 'Access not given', form);
    }
  });
}
