// "For how long?" — preset durations or a chosen date, as unix seconds.
import { h, formatDate } from './dom.js';

const DAY = 86400;
const PRESETS = [
  { id: '30d', label: '30 days', seconds: 30 * DAY },
  { id: '90d', label: '90 days', seconds: 90 * DAY },
  { id: '1y', label: '1 year', seconds: 365 * DAY },
];

const nowSeconds = () => Math.floor(Date.now() / 1000);

// yyyy-mm-dd in local time, as <input type="date"> wants it.
function isoDate(seconds) {
  const d = new Date(seconds * 1000);
  const pad = (n) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${pad(d.getMonth() + 1)}-${pad(d.getDate())}`;
}

// The end of that local day, in unix seconds.
function endOfDay(isoDay) {
  const [y, m, d] = isoDay.split('-').map(Number);
  return Math.floor(new Date(y, m - 1, d, 23, 59, 59).getTime() / 1000);
}

// options: {name, legend, defaultAt, maxAt, testid}. Returns
// {element, value() -> {at} | {error}, onChange(fn)}.
export function expiryChooser({ name, legend = 'For how long?', defaultAt = null, maxAt = null, testid = 'expiry' }) {
  const now = nowSeconds();
  const max = maxAt || now + 5 * 366 * DAY; // the broker's own limit
  let selected = '90d';
  if (defaultAt) {
    const match = PRESETS.find((p) => Math.abs(now + p.seconds - defaultAt) < 2 * DAY);
    selected = match ? match.id : 'date';
  }
  const listeners = [];
  const changed = () => listeners.forEach((fn) => fn());

  const dateId = `${name}-date`;
  const dateInput = h('input', {
    id: dateId, type: 'date', name: `${name}-date`, 'data-testid': `${testid}-date-input`,
    min: isoDate(now + DAY), max: isoDate(max),
    value: isoDate(defaultAt && selected === 'date' ? defaultAt : now + 180 * DAY),
  });

  const dateRadioId = `${name}-opt-date`;
  const radio = (id, label, until) => {
    const rid = `${name}-opt-${id}`;
    const input = h('input', {
      type: 'radio', name, id: rid, value: id, checked: id === selected, 'data-testid': `${testid}-${id}`,
    });
    input.addEventListener('change', () => { selected = id; changed(); });
    return h('div', { class: 'check' }, input,
      h('label', { for: rid }, label, until ? h('span', { class: 'muted' }, ` — until ${until}`) : null));
  };

  // Typing or picking a date selects the "until a date" option.
  const pickDate = () => {
    selected = 'date';
    element.querySelector(`#${dateRadioId}`).checked = true;
    changed();
  };
  dateInput.addEventListener('input', pickDate);
  dateInput.addEventListener('change', pickDate);

  const element = h('fieldset', { class: 'field group', 'data-testid': testid },
    h('legend', {}, legend),
    h('div', { class: 'radio-list' },
      PRESETS.map((p) => radio(p.id, p.label, formatDate(Math.min(now + p.seconds, max) * 1000))),
      radio('date', 'Until a date of your choice'),
      h('div', { class: 'field nested' },
        h('label', { for: dateId }, 'Last day of access'),
        h('p', { class: 'hint', id: `${dateId}-hint` }, `At the latest ${formatDate(max * 1000)}.`),
        dateInput)));
  dateInput.setAttribute('aria-describedby', `${dateId}-hint`);

  return {
    element,
    onChange: (fn) => listeners.push(fn),
    value() {
      const t = nowSeconds();
      if (selected === 'date') {
        if (!dateInput.value) return { error: 'Choose the date until which access lasts.' };
        const at = Math.min(endOfDay(dateInput.value), max);
        if (at <= t) return { error: 'Choose a date in the future.' };
        return { at };
      }
      const preset = PRESETS.find((p) => p.id === selected);
      return { at: Math.min(t + preset.seconds, max) };
    },
    focus: () => element.querySelector('input:checked')?.focus(),
  };
}
