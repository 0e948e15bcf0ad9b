// Form controls for profile values. Each builder returns a control:
//   { path, label, element, read(previous) -> value | undefined, focus(), invalid() }
// read() returns undefined when the value should be absent from the profile.
import { h, nextId, words } from './dom.js';

const isObject = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);

function hintEl(text, id) {
  return text ? h('p', { class: 'hint', id }, text) : null;
}

function datalist(id, options) {
  if (!options) return null;
  return h('datalist', { id }, options.map((o) => (Array.isArray(o)
    ? h('option', { value: o[0], label: o[1] })
    : h('option', { value: o }))));
}

function control(def, element, read, focusEl) {
  return {
    path: def.path,
    label: def.label,
    element,
    read,
    focus: () => focusEl.focus(),
    invalid: () => focusEl.setAttribute('aria-invalid', 'true'),
  };
}

// A single-line text input (text, email, tel, time, …).
function textField(def, value, testid) {
  const id = nextId('f');
  const hintId = def.hint ? `${id}-hint` : null;
  const listId = def.list ? `${id}-list` : null;
  const input = h('input', {
    id,
    type: def.type || 'text',
    name: def.path || def.label,
    value: typeof value === 'string' || typeof value === 'number' ? String(value) : '',
    autocomplete: def.autocomplete || 'off',
    inputmode: def.inputmode,
    placeholder: def.placeholder,
    spellcheck: def.spellcheck === false ? 'false' : null,
    autocapitalize: def.autocapitalize,
    list: listId,
    'aria-describedby': hintId,
    'data-testid': testid,
    class: def.short ? 'input-short' : null,
  });
  const element = h('div', { class: 'field' },
    h('label', { for: id }, def.label), hintEl(def.hint, hintId), input, datalist(listId, def.list));
  return control(def, element, () => {
    let v = input.value.trim();
    if (def.normalize) v = def.normalize(v);
    return v === '' ? undefined : v;
  }, input);
}

function textareaField(def, value, testid) {
  const id = nextId('f');
  const hintId = def.hint ? `${id}-hint` : null;
  const area = h('textarea', {
    id, rows: def.rows || 3, 'aria-describedby': hintId, 'data-testid': testid,
  });
  area.value = typeof value === 'string' ? value : '';
  const element = h('div', { class: 'field' }, h('label', { for: id }, def.label), hintEl(def.hint, hintId), area);
  return control(def, element, () => (area.value.trim() === '' ? undefined : area.value.trim()), area);
}

function selectField(def, value, testid) {
  const id = nextId('f');
  const hintId = def.hint ? `${id}-hint` : null;
  const select = h('select', { id, 'aria-describedby': hintId, 'data-testid': testid },
    def.options.map(([v, label]) => h('option', { value: v, selected: v === value }, label)));
  if (typeof value === 'string' && value && !def.options.some(([v]) => v === value)) {
    select.append(h('option', { value, selected: true }, value));
  }
  const element = h('div', { class: 'field' }, h('label', { for: id }, def.label), hintEl(def.hint, hintId), select);
  return control(def, element, () => (select.value === '' ? undefined : select.value), select);
}

// A yes/no checkbox. Unticking keeps an explicit false only if the value
// was stored before; an untouched, never-set box stays absent.
function boolField(def, value, testid) {
  const id = nextId('f');
  const hintId = def.hint ? `${id}-hint` : null;
  const box = h('input', { id, type: 'checkbox', checked: value === true, 'aria-describedby': hintId, 'data-testid': testid });
  const element = h('div', { class: 'check' }, box,
    h('div', {}, h('label', { for: id }, def.label), hintEl(def.hint, hintId)));
  return control(def, element, (prev) => {
    if (box.checked) return true;
    return prev === undefined ? undefined : false;
  }, box);
}

// Several checkboxes giving an array of the ticked values.
function choicesField(def, value, testid) {
  const current = Array.isArray(value) ? value : [];
  const boxes = [];
  const id = nextId('g');
  const hintId = def.hint ? `${id}-hint` : null;
  const items = def.options.map(([v, label]) => {
    const bid = `${id}-${v}`;
    const box = h('input', { id: bid, type: 'checkbox', value: v, checked: current.includes(v), 'data-testid': testid ? `${testid}-${v}` : null });
    boxes.push(box);
    return h('div', { class: 'check' }, box, h('label', { for: bid }, label));
  });
  // Keep values the form does not offer.
  const extra = current.filter((v) => !def.options.some(([o]) => o === v));
  const element = h('fieldset', { class: 'field group', 'aria-describedby': hintId, 'data-testid': testid },
    h('legend', {}, def.label), hintEl(def.hint, hintId), h('div', { class: 'check-grid' }, items));
  return control(def, element, (prev) => {
    const picked = [...boxes.filter((b) => b.checked).map((b) => b.value), ...extra];
    if (picked.length) return picked;
    return prev === undefined ? undefined : [];
  }, boxes[0]);
}

// A list of short strings shown as removable chips, with a box to add more.
function listField(def, value, testid) {
  const items = Array.isArray(value) ? value.map(String) : [];
  const id = nextId('l');
  const hintId = `${id}-hint`;
  const list = h('ul', { class: 'chips', 'aria-label': def.label, 'data-testid': testid ? `${testid}-items` : null });
  const input = h('input', { id, 'aria-describedby': hintId, autocomplete: 'off', 'data-testid': testid ? `${testid}-input` : null });
  const addButton = h('button', { type: 'button', class: 'btn btn-secondary', 'data-testid': testid ? `${testid}-add` : null }, def.addLabel || 'Add');

  const renderChips = () => {
    list.replaceChildren(...items.map((item, i) => h('li', { class: 'chip' },
      h('span', {}, item),
      h('button', {
        type: 'button',
        class: 'chip-remove',
        'aria-label': `Remove ${item}`,
        onclick: () => {
          items.splice(i, 1);
          renderChips();
          (list.querySelector('.chip-remove') || input).focus();
        },
      }, '×'))));
    list.hidden = items.length === 0;
  };
  const add = () => {
    const fresh = input.value.split(',').map((s) => s.trim()).filter(Boolean);
    for (const f of fresh) if (!items.includes(f)) items.push(f);
    input.value = '';
    renderChips();
    input.focus();
  };
  addButton.addEventListener('click', add);
  input.addEventListener('keydown', (e) => {
    if (e.key === 'Enter') { e.preventDefault(); add(); }
  });
  renderChips();
  const element = h('div', { class: 'field' },
    h('label', { for: id }, def.label),
    h('p', { class: 'hint', id: hintId }, def.hint || 'Type one and press Enter or Add. Separate several with commas.'),
    list,
    h('div', { class: 'inline-add' }, input, addButton));
  return control(def, element, () => {
    const pending = input.value.split(',').map((s) => s.trim()).filter(Boolean);
    const all = [...items, ...pending.filter((p) => !items.includes(p))];
    return all.length ? all : undefined;
  }, input);
}

// Names and values (e.g. sizes). Values that look like numbers are stored
// as numbers; names are normalised to the profile's key syntax.
function pairsField(def, value, testid) {
  const rows = isObject(value) ? Object.entries(value).map(([k, v]) => [k, String(v)]) : [];
  const id = nextId('p');
  const body = h('div', { class: 'pairs-rows', 'data-testid': testid ? `${testid}-rows` : null });
  const keyListId = def.keys ? `${id}-keys` : null;
  let lastFocus = null;

  const addRow = (k = '', v = '') => {
    const n = body.children.length + 1;
    const keyInput = h('input', {
      id: `${id}-k${n}`, value: k, list: keyListId, autocomplete: 'off', autocapitalize: 'none', spellcheck: 'false',
      'aria-label': `${def.keyLabel || 'Name'} ${n}`, placeholder: def.keyPlaceholder, class: 'pair-key',
    });
    const valueInput = h('input', {
      id: `${id}-v${n}`, value: v, autocomplete: 'off',
      'aria-label': `${def.valueLabel || 'Value'} ${n}`, placeholder: def.valuePlaceholder, class: 'pair-value',
    });
    const row = h('div', { class: 'pair' }, keyInput, valueInput);
    const remove = h('button', {
      type: 'button', class: 'icon-button', 'aria-label': `Remove ${(def.keyLabel || 'entry').toLowerCase()} ${n}`,
      title: 'Remove',
      onclick: () => {
        row.remove();
        addButton.focus();
      },
    }, '×');
    row.append(remove);
    body.append(row);
    lastFocus = keyInput;
  };
  const addButton = h('button', {
    type: 'button', class: 'btn btn-secondary btn-small', 'data-testid': testid ? `${testid}-add` : null,
    onclick: () => { addRow(); lastFocus.focus(); },
  }, def.addLabel || 'Add');
  rows.forEach(([k, v]) => addRow(k, v));
  if (!rows.length && def.starter) def.starter.forEach((k) => addRow(k, ''));

  const element = h('fieldset', { class: 'field group', 'data-testid': testid },
    h('legend', {}, def.label),
    def.hint ? h('p', { class: 'hint' }, def.hint) : null,
    h('div', { class: 'pairs-head', 'aria-hidden': 'true' }, h('span', {}, def.keyLabel || 'Name'), h('span', {}, def.valueLabel || 'Value')),
    body,
    h('div', { class: 'actions actions-tight' }, addButton),
    keyListId ? datalist(keyListId, def.keys) : null);

  return control(def, element, () => {
    const out = {};
    for (const row of body.querySelectorAll('.pair')) {
      const k = row.querySelector('.pair-key').value.trim().toLowerCase().replace(/[\s-]+/g, '_');
      const raw = row.querySelector('.pair-value').value.trim();
      if (!k || raw === '') continue;
      out[k] = /^-?\d+(\.\d+)?$/.test(raw) ? Number(raw) : raw;
    }
    return Object.keys(out).length ? out : undefined;
  }, { focus: () => (body.querySelector('input') || addButton).focus(), setAttribute: () => {} });
}

// Builds the control for a field definition.
export function buildControl(def, value, testid) {
  switch (def.kind) {
    case 'select': return selectField(def, value, testid);
    case 'bool': return boolField(def, value, testid);
    case 'choices': return choicesField(def, value, testid);
    case 'list': return listField(def, value, testid);
    case 'pairs': return pairsField(def, value, testid);
    case 'textarea': return textareaField(def, value, testid);
    default: return textField(def, value, testid);
  }
}

// A value in plain words for the read-only summary.
export function describeValue(def, value) {
  if (value === undefined || value === null) return null;
  switch (def.kind) {
    case 'bool': return value ? 'Yes' : 'No';
    case 'select': return def.options.find(([v]) => v === value)?.[1] || String(value);
    case 'choices':
      if (!Array.isArray(value)) return String(value);
      return value.length ? value.map((v) => def.options.find(([o]) => o === v)?.[1] || v).join(', ') : 'None';
    case 'list': return Array.isArray(value) && value.length ? value.join(', ') : null;
    case 'pairs':
      return isObject(value) && Object.keys(value).length
        ? Object.entries(value).map(([k, v]) => `${(def.keyName || words)(k)}: ${v}`).join(' · ') : null;
    default: return def.describe ? def.describe(value) : String(value);
  }
}
