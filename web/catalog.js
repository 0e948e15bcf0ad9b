// Reference data used to describe things in plain words: the catalog of
// scopes (/v1/scopes), the company directory (/v1/companies) and purposes.
import { get } from './api.js';
import { words } from './dom.js';

let catalog = null; // {sections: [{scope, label, fields: [{scope, label}]}]}
let companies = null; // [{id, name, description, site}]
const labels = new Map(); // scope -> label

export async function loadCatalog() {
  if (!catalog) {
    const data = await get('/v1/scopes');
    catalog = { sections: Array.isArray(data?.sections) ? data.sections : [] };
    for (const s of catalog.sections) {
      labels.set(s.scope, s.label);
      for (const f of s.fields || []) labels.set(f.scope, f.label);
    }
  }
  return catalog;
}

export async function loadCompanies(refresh = false) {
  if (!companies || refresh) {
    const data = await get('/v1/companies');
    companies = Array.isArray(data?.companies) ? data.companies : [];
    companies.sort((a, b) => String(a.name || a.id).localeCompare(String(b.name || b.id)));
  }
  return companies;
}

// Loads both, ignoring failures (descriptions then fall back to ids/paths).
export async function loadReference() {
  await Promise.allSettled([loadCatalog(), loadCompanies()]);
}

export function companyName(id) {
  const c = companies?.find((x) => x.id === id);
  return c?.name || id;
}

export function company(id) {
  return companies?.find((x) => x.id === id) || null;
}

// "read:contact.email" -> "Your e-mail address"; for scopes the catalog does
// not know, the nearest known parent plus the rest of the path in words:
// "read:contact.postal.city" -> "Your postal address (city)",
// "read:pets.dog_name" -> "Your pets (dog name)".
export function describeScope(scope) {
  const path = String(scope).replace(/^read:/, '');
  if (labels.has(`read:${path}`)) return labels.get(`read:${path}`);
  const parts = path.split('.');
  for (let n = parts.length - 1; n > 0; n--) {
    const parent = labels.get(`read:${parts.slice(0, n).join('.')}`);
    if (parent) return `${parent} (${parts.slice(n).map(words).join(', ')})`;
  }
  const [first, ...rest] = parts.map(words);
  return `Your ${first}${rest.length ? ` (${rest.join(', ')})` : ''}`;
}

// The same, for use inside a sentence ("Acme read your e-mail address").
export function describeScopeInline(scope) {
  const label = describeScope(scope);
  return /^Your\b/.test(label) ? `y${label.slice(1)}` : label;
}

export const describeField = (path) => describeScopeInline(`read:${path}`);

export const PURPOSES = [
  { id: 'service', label: 'Service', text: 'to provide something you asked for' },
  { id: 'marketing', label: 'Marketing', text: 'to send you offers and news' },
  { id: 'personalization', label: 'Personalisation', text: 'to tailor what they show you' },
  { id: 'analytics', label: 'Analytics', text: 'to measure and improve what they do' },
  { id: 'research', label: 'Research', text: 'for studies and surveys' },
];

export function purposeLabel(id) {
  return PURPOSES.find((p) => p.id === id)?.label || words(id);
}

export function purposeSentence(id) {
  const p = PURPOSES.find((x) => x.id === id);
  return p ? `${p.label} — ${p.text}` : words(id);
}

export function resetReference() {
  companies = null;
}
