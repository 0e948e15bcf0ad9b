// The profile: one card per standard section (summary + form), a JSON
// editor for the other sections, and the whole document as JSON.
// Saving a section sends an RFC 7396 merge patch with If-Match.
import { request } from './api.js';
import {
  $, h, clear, announce, alertError, busy, clearFormError, formError, reportError, confirmDialog, words,
} from './dom.js';
import { buildControl, describeValue } from './fields.js';

const POSTAL_ORDER = ['street', 'postcode', 'city', 'region', 'country'];

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const clone = (v) => (v === undefined ? undefined : JSON.parse(JSON.stringify(v)));

function localTimeZone() {
  try { return Intl.DateTimeFormat().resolvedOptions().timeZone || 'UTC'; } catch { return 'UTC'; }
}

function timeZones() {
  try { return Intl.supportedValuesOf('timeZone'); } catch { return ['UTC', 'Europe/London', 'Europe/Berlin', 'America/New_York']; }
}

const LANGUAGES = ['en', 'en-GB', 'en-US', 'de', 'de-AT', 'de-CH', 'fr', 'fr-CA', 'es', 'es-MX', 'it', 'nl', 'pt',
  'pt-BR', 'pl', 'sv', 'da', 'nb', 'fi', 'cs', 'el', 'tr', 'uk', 'ru', 'ar', 'he', 'hi', 'ja', 'ko', 'zh-Hans', 'zh-Hant'];

function languageName(tag) {
  try {
    const name = new Intl.DisplayNames(['en'], { type: 'language' }).of(tag);
    return name && name !== tag ? `${name} (${tag})` : tag;
  } catch { return tag; }
}

const SIZE_NAMES = { shoe_eu: 'Shoe (EU)', shoe_uk: 'Shoe (UK)', shoe_us: 'Shoe (US)' };

function sizeName(key) {
  const w = SIZE_NAMES[key] || words(key);
  return w.charAt(0).toUpperCase() + w.slice(1);
}

function normalisePhone(v) {
  const compact = v.replace(/[\s().-]/g, '');
  return compact.startsWith('00') ? `+${compact.slice(2)}` : compact;
}

// The standard sections (DESIGN section 5) and how to edit them.
export const SECTIONS = [
  {
    key: 'identity', title: 'Identity', intro: 'How companies should address you.',
    fields: [
      { path: 'name', label: 'Full name', autocomplete: 'name' },
      { path: 'preferred_name', label: 'Preferred name', hint: 'What you like to be called.', autocomplete: 'nickname' },
      { path: 'pronouns', label: 'Pronouns', list: ['she/her', 'he/him', 'they/them'], short: true },
    ],
  },
  {
    key: 'contact', title: 'Contact details', intro: 'Where companies can reach you.',
    fields: [
      { path: 'email', label: 'E-mail address', type: 'email', autocomplete: 'email', spellcheck: false, autocapitalize: 'none' },
      {
        path: 'phone', label: 'Phone number', type: 'tel', autocomplete: 'tel', short: true, normalize: normalisePhone,
        hint: 'International format: + and the country code, e.g. +44 20 7946 0958.',
      },
      { group: 'Postal address', layout: 'address', fields: [
        { path: 'postal.street', label: 'Street and number', autocomplete: 'street-address' },
        { path: 'postal.postcode', label: 'Postcode', autocomplete: 'postal-code' },
        { path: 'postal.city', label: 'Town or city', autocomplete: 'address-level2' },
        { path: 'postal.region', label: 'Region or state', autocomplete: 'address-level1' },
        { path: 'postal.country', label: 'Country', autocomplete: 'country-name' },
      ] },
    ],
    summary: {
      // In the order of the form, not the stored (sorted) key order.
      postal: (v) => (isObject(v)
        ? [...POSTAL_ORDER.filter((k) => k in v), ...Object.keys(v).filter((k) => !POSTAL_ORDER.includes(k))]
          .map((k) => v[k]).filter((x) => typeof x === 'string' && x).join(', ')
        : null),
    },
  },
  {
    key: 'communication', title: 'Communication', intro: 'How, how often and when companies may contact you.',
    fields: [
      { path: 'channels', kind: 'choices', label: 'Ways you accept', options: [
        ['email', 'E-mail'], ['sms', 'Text message (SMS)'], ['phone', 'Phone call'], ['post', 'Letter (post)'], ['push', 'App notification'],
      ] },
      { path: 'frequency', kind: 'select', label: 'How often', options: [
        ['', 'No preference'], ['never', 'Never'], ['daily', 'At most once a day'], ['weekly', 'At most once a week'], ['monthly', 'At most once a month'],
      ] },
      { group: 'Quiet hours', hint: 'No contact between these times.', inline: true, fields: [
        { path: 'quiet_hours.start', label: 'From', type: 'time', short: true },
        { path: 'quiet_hours.end', label: 'Until', type: 'time', short: true },
        { path: 'quiet_hours.tz', label: 'Time zone', list: timeZones(), placeholder: localTimeZone(), spellcheck: false },
      ] },
      { path: 'do_not_contact', kind: 'bool', label: 'Do not contact me at all', hint: 'Asks every company not to contact you, whatever you chose above.' },
    ],
    summary: {
      quiet_hours: (v) => (isObject(v) && (v.start || v.end)
        ? `${v.start || '?'} to ${v.end || '?'}${v.tz ? ` (${v.tz})` : ''}` : null),
    },
    // Quiet hours need a time zone: use the browser's when none is given.
    finalize(section) {
      const q = section?.quiet_hours;
      if (isObject(q) && (q.start || q.end) && !q.tz) q.tz = localTimeZone();
    },
  },
  {
    key: 'language', title: 'Language', intro: 'The language you prefer to be addressed in.', scalar: true,
    fields: [{
      path: '', label: 'Preferred language', list: LANGUAGES.map((t) => [t, languageName(t)]), short: true, spellcheck: false,
      hint: 'A language tag such as en, en-GB, de or pt-BR.', describe: languageName,
    }],
  },
  {
    key: 'interests', title: 'Interests', intro: 'Topics you would like to hear about.', scalar: true,
    fields: [{ path: '', kind: 'list', label: 'Your interests', addLabel: 'Add interest' }],
  },
  {
    key: 'sizes', title: 'Sizes', intro: 'Clothing and shoe sizes, so offers fit.', scalar: true,
    fields: [{
      path: '', kind: 'pairs', label: 'Your sizes', keyName: sizeName, keyLabel: 'Size', valueLabel: 'Value', addLabel: 'Add a size',
      keyPlaceholder: 'e.g. shoe_eu', valuePlaceholder: 'e.g. 42 or M',
      hint: 'A name (lower-case letters, digits and _) and a number or text.',
      keys: ['shoe_eu', 'shoe_uk', 'shoe_us', 'shirt', 'dress', 'jacket', 'trousers_waist', 'trousers_length', 'ring', 'hat', 'glove'],
      starter: ['shoe_eu', 'shirt'],
    }],
  },
  {
    key: 'diet', title: 'Diet', intro: 'What you eat, and what you cannot.',
    fields: [
      { group: 'Your diet', checks: true, fields: [
        { path: 'vegetarian', kind: 'bool', label: 'Vegetarian' },
        { path: 'vegan', kind: 'bool', label: 'Vegan' },
        { path: 'halal', kind: 'bool', label: 'Halal' },
        { path: 'kosher', kind: 'bool', label: 'Kosher' },
      ] },
      { path: 'allergies', kind: 'list', label: 'Allergies and intolerances', addLabel: 'Add allergy' },
    ],
  },
  {
    key: 'accessibility', title: 'Accessibility', intro: 'So that what companies send you works for you.',
    fields: [
      { group: 'Your needs', checks: true, fields: [
        { path: 'large_text', kind: 'bool', label: 'Large text' },
        { path: 'screen_reader', kind: 'bool', label: 'I use a screen reader' },
        { path: 'captions', kind: 'bool', label: 'Captions on videos' },
      ] },
      { path: 'notes', kind: 'textarea', label: 'Anything else companies should know' },
    ],
  },
];

const STANDARD = new Set(SECTIONS.map((s) => s.key));

// ---- state --------------------------------------------------------------

const state = { doc: null, etag: null };

export function reset() {
  state.doc = null;
  state.etag = null;
}

// The profile document last loaded (for other views, e.g. the grant form).
export async function currentProfile() {
  if (!state.doc) await load();
  return state.doc;
}

async function load() {
  const { data, etag } = await request('GET', '/v1/me/profile');
  state.doc = isObject(data) ? data : {};
  state.etag = etag;
}

// ---- paths and merge patches --------------------------------------------

function getPath(obj, path) {
  if (!path) return obj;
  let cur = obj;
  for (const part of path.split('.')) {
    if (!isObject(cur)) return undefined;
    cur = cur[part];
  }
  return cur;
}

// Sets (or with undefined, removes) obj[path], dropping emptied parents.
function setPath(obj, path, value) {
  const parts = path.split('.');
  const chain = [obj];
  let cur = obj;
  for (const part of parts.slice(0, -1)) {
    if (!isObject(cur[part])) {
      if (value === undefined) return;
      cur[part] = {};
    }
    cur = cur[part];
    chain.push(cur);
  }
  const last = parts[parts.length - 1];
  if (value === undefined) delete cur[last];
  else cur[last] = value;
  for (let i = parts.length - 1; i > 0; i--) {
    if (Object.keys(chain[i]).length === 0) delete chain[i - 1][parts[i - 1]];
  }
}

// JSON with object keys sorted, so that key order does not matter.
function canonical(v) {
  if (Array.isArray(v)) return `[${v.map(canonical).join(',')}]`;
  if (isObject(v)) return `{${Object.keys(v).sort().map((k) => `${JSON.stringify(k)}:${canonical(v[k])}`).join(',')}}`;
  return JSON.stringify(v);
}

const deepEqual = (a, b) => canonical(a) === canonical(b);

// RFC 7396: the patch that turns `before` into `after` (undefined = absent).
export function mergePatch(before, after) {
  if (after === undefined) return null;
  if (!isObject(before) || !isObject(after)) return after;
  const patch = {};
  for (const key of Object.keys(before)) if (!(key in after)) patch[key] = null;
  for (const [key, value] of Object.entries(after)) {
    if (!deepEqual(before[key], value)) patch[key] = mergePatch(before[key], value);
  }
  return patch;
}

const isEmptyPatch = (p) => isObject(p) && Object.keys(p).length === 0;

// ---- saving ----------------------------------------------------------------

async function savePatch(patch) {
  const { data, etag } = await request('PATCH', '/v1/me/profile', {
    json: patch, contentType: 'application/merge-patch+json', ifMatch: state.etag || '*',
  });
  state.doc = isObject(data) ? data : state.doc;
  if (etag) state.etag = etag;
  else await load();
}

// Someone changed the profile meanwhile: load the latest and say so.
async function staleReload() {
  await load();
  renderAll();
  alertError('Your profile was changed somewhere else (another tab or device) while you were editing. '
    + 'The latest version is shown now — please make your change again.', 'Not saved');
}

// Turns "contact.email: not a valid …" into "E-mail address: not a valid …"
// and marks that field.
function explainError(message, sectionKey, controls) {
  const m = /^([a-z0-9_.[\]]+): (.+)$/s.exec(message);
  if (!m) return { message };
  const errPath = m[1];
  let best = null;
  for (const c of controls) {
    const full = c.path ? `${sectionKey}.${c.path}` : sectionKey;
    if ((errPath === full || errPath.startsWith(`${full}.`) || errPath.startsWith(`${full}[`))
      && (!best || full.length > best.full.length)) best = { c, full };
  }
  if (!best) return { message };
  return { message: `${best.c.label}: ${m[2]}`, control: best.c };
}

async function handleSaveError(e, form, sectionKey, controls) {
  if (e.status === 412 || e.status === 428) return staleReload();
  if (e.status === 401) return undefined;
  const { message, control } = explainError(e.detail || String(e), sectionKey, controls);
  formError(form, message);
  if (control) { control.invalid(); control.focus(); }
  return undefined;
}

// ---- cards -------------------------------------------------------------------

// Flattens groups into the list of value fields.
function leafFields(fields) {
  return fields.flatMap((f) => (f.group ? leafFields(f.fields) : [f]));
}

function groupSummary(def, group, value) {
  const first = group.fields[0].path.split('.')[0];
  const custom = def.summary?.[first];
  if (custom && group.fields.every((x) => x.path.startsWith(`${first}.`))) {
    const text = custom(value[first]);
    return text ? [[group.group, text]] : [];
  }
  if (group.checks) {
    const set = group.fields.filter((x) => getPath(value, x.path) !== undefined);
    if (!set.length) return [];
    const picked = set.filter((x) => getPath(value, x.path) === true).map((x) => x.label);
    return [[group.group, picked.length ? picked.join(', ') : 'None of these']];
  }
  return group.fields.map((x) => [x.label, describeValue(x, getPath(value, x.path))]).filter(([, t]) => t);
}

function summaryRows(def, value) {
  if (def.scalar) {
    const field = def.fields[0];
    const text = describeValue(field, value);
    return text ? [[field.label, text]] : [];
  }
  if (!isObject(value)) return [];
  const rows = [];
  for (const f of def.fields) {
    if (f.group) {
      rows.push(...groupSummary(def, f, value));
    } else {
      const custom = def.summary?.[f.path];
      const text = custom ? custom(value[f.path]) : describeValue(f, getPath(value, f.path));
      if (text) rows.push([f.label, text]);
    }
  }
  // Members the form does not know are kept; show them too.
  const known = new Set(leafFields(def.fields).map((f) => f.path.split('.')[0]));
  for (const [k, v] of Object.entries(value)) {
    if (!known.has(k)) rows.push([words(k), typeof v === 'string' ? v : JSON.stringify(v)]);
  }
  return rows;
}

function renderSummary(def, value) {
  const rows = summaryRows(def, value);
  if (!rows.length) {
    return h('p', { class: 'empty', 'data-testid': `summary-${def.key}` }, 'Not filled in yet.');
  }
  return h('dl', { class: 'summary', 'data-testid': `summary-${def.key}` },
    rows.map(([k, v]) => h('div', { class: 'summary-row' }, h('dt', {}, k), h('dd', {}, v))));
}

function buildFields(def, value, controls) {
  return def.fields.map((f) => {
    if (f.group) {
      const inner = f.fields.map((x) => {
        const c = buildControl(x, getPath(value, x.path), `field-${def.key}-${x.path.replace(/\./g, '-')}`);
        controls.push(c);
        return c.element;
      });
      const kind = (f.inline && ' group-inline') || (f.checks && ' group-checks') || (f.layout && ` group-${f.layout}`) || '';
      return h('fieldset', { class: `field group${kind}` },
        h('legend', {}, f.group), f.hint ? h('p', { class: 'hint' }, f.hint) : null,
        h('div', { class: 'group-body' }, inner));
    }
    const v = def.scalar ? value : getPath(value, f.path);
    const c = buildControl(f, v, `field-${def.key}${f.path ? `-${f.path.replace(/\./g, '-')}` : ''}`);
    controls.push(c);
    return c.element;
  });
}

// The new value of a section from its form: the stored value with every
// field the form controls replaced, so members it does not know survive.
function composeSection(def, before, controls) {
  if (def.scalar) return controls[0].read(before);
  const after = isObject(before) ? clone(before) : {};
  for (const c of controls) setPath(after, c.path, c.read(getPath(before, c.path)));
  def.finalize?.(after);
  return Object.keys(after).length ? after : undefined;
}

function sectionCard(def, note = null) {
  const value = state.doc[def.key];
  const headingId = `h-${def.key}`;
  const formId = `form-${def.key}`;
  const card = h('section', { class: 'card profile-card', id: `section-${def.key}`, 'aria-labelledby': headingId, 'data-testid': `section-${def.key}` });
  const editButton = h('button', {
    type: 'button', class: 'btn btn-secondary btn-small', 'aria-expanded': 'false', 'aria-controls': formId,
    'data-testid': `edit-${def.key}`,
  }, value === undefined ? 'Add' : 'Edit', h('span', { class: 'visually-hidden' }, ` ${def.title.toLowerCase()}`));
  const summary = renderSummary(def, value);
  const controls = [];
  const form = h('form', { id: formId, class: 'section-form', 'data-testid': formId, hidden: true, novalidate: true });

  const noteEl = note ? h('span', { class: 'saved-note', 'data-testid': `saved-${def.key}` }, note) : null;
  const open = (isOpen) => {
    form.hidden = !isOpen;
    summary.hidden = isOpen;
    editButton.hidden = isOpen;
    if (noteEl) noteEl.hidden = true;
    editButton.setAttribute('aria-expanded', String(isOpen));
  };
  editButton.addEventListener('click', () => {
    form.replaceChildren(...formContents());
    open(true);
    controls[0]?.focus();
  });

  const formContents = () => {
    controls.length = 0;
    return [
      ...buildFields(def, state.doc[def.key], controls),
      h('p', { class: 'form-error', role: 'alert' }),
      h('div', { class: 'actions' },
        h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': `save-${def.key}` }, 'Save'),
        h('button', {
          type: 'button', class: 'btn btn-secondary', 'data-testid': `cancel-${def.key}`,
          onclick: () => { open(false); editButton.focus(); },
        }, 'Cancel'),
        state.doc[def.key] !== undefined ? h('button', {
          type: 'button', class: 'btn btn-quiet btn-danger-text push-end', 'data-testid': `clear-${def.key}`,
          onclick: () => clearSection(def, form),
        }, 'Remove all', h('span', { class: 'visually-hidden' }, ` ${def.title.toLowerCase()}`)) : null),
    ];
  };

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form);
    const before = state.doc[def.key];
    const after = composeSection(def, before, controls);
    const patch = mergePatch(before, after);
    if (isEmptyPatch(patch) || (before === undefined && after === undefined)) {
      open(false);
      editButton.focus();
      announce(`No changes to ${def.title.toLowerCase()}.`);
      return;
    }
    await busy(form, async () => {
      try {
        await savePatch({ [def.key]: patch });
        replaceCard(def, true, 'Saved');
        refreshSide();
        announce(`${def.title} saved.`);
      } catch (err) {
        await handleSaveError(err, form, def.key, controls);
      }
    });
  });

  card.append(
    h('div', { class: 'card-head' },
      h('div', {}, h('h2', { class: 'card-title', id: headingId }, def.title), h('p', { class: 'card-sub' }, def.intro)),
      h('div', { class: 'card-tools' }, noteEl, editButton)),
    summary,
    form,
  );
  return card;
}

async function clearSection(def, form) {
  const ok = await confirmDialog({
    title: `Remove all ${def.title.toLowerCase()}?`,
    message: 'Companies that have access to this part of your profile will no longer see it.',
    confirm: 'Remove', danger: true,
  });
  if (!ok) return;
  await busy(form, async () => {
    try {
      await savePatch({ [def.key]: null });
      replaceCard(def, true, 'Removed');
      refreshSide();
      announce(`${def.title} removed.`);
    } catch (err) {
      await handleSaveError(err, form, def.key, []);
    }
  });
}

function replaceCard(def, focus, note = null) {
  const old = $(`#section-${def.key}`);
  const card = sectionCard(def, note);
  old.replaceWith(card);
  if (focus) card.querySelector(`[data-testid="edit-${def.key}"]`).focus();
}

// ---- other sections (raw JSON) --------------------------------------------

function otherSections() {
  const out = {};
  for (const [k, v] of Object.entries(state.doc)) if (!STANDARD.has(k)) out[k] = v;
  return out;
}

function parseJson(text) {
  try {
    return { value: JSON.parse(text) };
  } catch (e) {
    return { error: `That is not valid JSON (${e.message}).` };
  }
}

function rawCard() {
  const others = otherSections();
  const names = Object.keys(others);
  const areaId = 'raw-json';
  const card = h('section', { class: 'card profile-card', id: 'section-other', 'aria-labelledby': 'h-other', 'data-testid': 'section-other' });
  const editButton = h('button', {
    type: 'button', class: 'btn btn-secondary btn-small', 'aria-expanded': 'false', 'aria-controls': 'form-other', 'data-testid': 'edit-other',
  }, 'Edit as JSON', h('span', { class: 'visually-hidden' }, ': other sections'));
  const summary = names.length
    ? h('div', { 'data-testid': 'summary-other' }, h('p', {}, `${names.length === 1 ? 'One section' : `${names.length} sections`}: ${names.map(words).join(', ')}.`),
      h('pre', { class: 'json-view' }, JSON.stringify(others, null, 2)))
    : h('p', { class: 'empty', 'data-testid': 'summary-other' }, 'None yet. Anything that does not fit the sections above can go here, as JSON.');
  const area = h('textarea', {
    id: areaId, class: 'code', rows: 12, spellcheck: 'false', autocapitalize: 'none', 'aria-describedby': 'raw-json-hint', 'data-testid': 'raw-json',
  });
  const form = h('form', { id: 'form-other', class: 'section-form', hidden: true, novalidate: true, 'data-testid': 'form-other' },
    h('div', { class: 'field' },
      h('label', { for: areaId }, 'Other sections as a JSON object'),
      h('p', { class: 'hint', id: 'raw-json-hint' }, 'Each member is a section, e.g. {"pets": {"dog": true}}. Names use lower-case letters, digits and _. Remove a member to delete that section.'),
      area),
    h('p', { class: 'form-error', role: 'alert' }),
    h('div', { class: 'actions' },
      h('button', { type: 'submit', class: 'btn btn-primary', 'data-testid': 'save-other' }, 'Save'),
      h('button', {
        type: 'button', class: 'btn btn-secondary', 'data-testid': 'cancel-other',
        onclick: () => { form.hidden = true; summary.hidden = false; editButton.hidden = false; editButton.setAttribute('aria-expanded', 'false'); editButton.focus(); },
      }, 'Cancel')));

  editButton.addEventListener('click', () => {
    area.value = JSON.stringify(otherSections(), null, 2);
    form.hidden = false;
    summary.hidden = true;
    editButton.hidden = true;
    editButton.setAttribute('aria-expanded', 'true');
    area.focus();
  });

  form.addEventListener('submit', async (e) => {
    e.preventDefault();
    clearFormError(form);
    const { value, error } = parseJson(area.value.trim() || '{}');
    if (error || !isObject(value)) {
      area.setAttribute('aria-invalid', 'true');
      formError(form, error || 'Write one JSON object: { "section": … }.');
      area.focus();
      return;
    }
    const before = otherSections();
    const patch = mergePatch(before, value);
    if (isEmptyPatch(patch)) {
      form.hidden = true; summary.hidden = false; editButton.hidden = false;
      announce('No changes to other sections.');
      return;
    }
    await busy(form, async () => {
      try {
        await savePatch(patch);
        renderAll();
        $('[data-testid="edit-other"]').focus();
        announce('Other sections saved.');
      } catch (err) {
        if (err.status === 412 || err.status === 428) { await staleReload(); return; }
        if (err.status === 401) return;
        area.setAttribute('aria-invalid', 'true');
        formError(form, err.detail || String(err));
        area.focus();
      }
    });
  });

  card.append(
    h('div', { class: 'card-head' },
      h('div', {}, h('h2', { class: 'card-title', id: 'h-other' }, 'Other sections'),
        h('p', { class: 'card-sub' }, 'Anything else you keep in your profile, edited as JSON.')),
      editButton),
    summary, form);
  return card;
}

function wholeProfile() {
  return h('details', { class: 'card whole-json', id: 'whole-json' },
    h('summary', { 'data-testid': 'show-json' }, 'Your whole profile as JSON'),
    h('p', { class: 'hint' }, 'Exactly what is stored. Companies only ever see the parts you give them access to.'),
    h('pre', { class: 'json-view', 'data-testid': 'profile-json' }, JSON.stringify(state.doc, null, 2)));
}

// ---- page ------------------------------------------------------------------

function sideNav() {
  return h('nav', { class: 'side-nav', 'aria-label': 'Profile sections', id: 'profile-side' }, sideItems());
}

function sideItems() {
  const item = (id, title, filled) => h('li', {},
    h('a', { href: `#section-${id}`, 'data-section': id, onclick: jumpTo },
      h('span', {}, title),
      h('span', { class: `side-state${filled ? ' is-filled' : ''}` }, filled ? 'Filled in' : 'Empty')));
  return h('ul', {},
    SECTIONS.map((s) => item(s.key, s.title, state.doc[s.key] !== undefined)),
    item('other', 'Other sections', Object.keys(otherSections()).length > 0));
}

// In-page links must not change the route in the fragment.
function jumpTo(e) {
  e.preventDefault();
  const card = $(`#section-${e.currentTarget.dataset.section}`);
  card.scrollIntoView({ behavior: 'smooth', block: 'start' });
  const heading = card.querySelector('h2');
  heading.setAttribute('tabindex', '-1');
  heading.focus({ preventScroll: true });
}

function refreshSide() {
  const side = $('#profile-side');
  if (side) side.replaceChildren(sideItems());
  const json = $('[data-testid="profile-json"]');
  if (json) json.textContent = JSON.stringify(state.doc, null, 2);
  const raw = $('#section-other');
  if (raw && $('#form-other')?.hidden !== false) raw.replaceWith(rawCard());
}

function renderAll() {
  const filled = SECTIONS.filter((s) => state.doc[s.key] !== undefined).length;
  clear($('#profile-body'),
    h('div', { class: 'with-side' },
      sideNav(),
      h('div', { class: 'stack' },
        h('p', { class: 'progress', 'data-testid': 'profile-progress' },
          `${filled} of ${SECTIONS.length} standard sections filled in.`),
        SECTIONS.map((def) => sectionCard(def)),
        rawCard(),
        wholeProfile())));
}

export async function show() {
  const body = $('#profile-body');
  if (!state.doc) clear(body, h('p', { class: 'loading' }, 'Loading your profile…'));
  try {
    await load();
  } catch (e) {
    clear(body, h('p', { class: 'empty' }, 'Your profile could not be loaded.'));
    reportError(e, 'Could not load your profile');
    return;
  }
  renderAll();
}
