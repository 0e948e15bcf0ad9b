// The broker's JSON API: fetch with the session cookie, the CSRF header on
// every state-changing request, and problem+json errors turned into plain
// sentences (the server's "detail").

export class ApiError extends Error {
  constructor(status, detail, { title = '', type = '', retryAfter = null, problem = {} } = {}) {
    super(detail);
    this.status = status;
    this.problem = problem; // the whole problem+json body (e.g. "redirect")
    this.detail = detail;
    this.title = title;
    this.type = type;
    this.retryAfter = retryAfter;
  }
}

let csrfToken = null;
let sessionLost = () => {};

export const setCsrf = (token) => { csrfToken = token || null; };

// Called with the error when a request finds the session gone (401).
export const onSessionLost = (fn) => { sessionLost = fn; };

const SAFE = new Set(['GET', 'HEAD']);

function fallbackDetail(status) {
  if (status === 401) return 'You are not signed in, or your session has ended.';
  if (status === 403) return 'You are not allowed to do that.';
  if (status === 404) return 'That could not be found. It may have been removed.';
  if (status === 409) return 'That conflicts with something that already exists.';
  if (status === 412) return 'This was changed somewhere else in the meantime.';
  if (status === 413) return 'That is too large to save.';
  if (status === 429) return 'Too many attempts.';
  if (status >= 500) return 'Something went wrong on our side. Please try again in a moment.';
  return `The request failed (HTTP ${status}).`;
}

function retryText(seconds) {
  if (seconds <= 0) return '';
  if (seconds < 90) return `Please try again in ${seconds} second${seconds === 1 ? '' : 's'}.`;
  const minutes = Math.ceil(seconds / 60);
  return `Please try again in ${minutes} minutes.`;
}

// "wrong login or password" -> "Wrong login or password." (a detail that
// starts with a path such as "contact.email: …" is left as it is).
function asSentence(text) {
  let t = text.trim();
  if (/^[a-z][a-z'-]*[ ,;]/.test(t)) t = t.charAt(0).toUpperCase() + t.slice(1);
  return /[.!?)]$/.test(t) ? t : `${t}.`;
}

async function toError(res) {
  let problem = {};
  const type = res.headers.get('Content-Type') || '';
  if (type.includes('json')) {
    try { problem = await res.json(); } catch { problem = {}; }
  }
  let detail = typeof problem.detail === 'string' && problem.detail ? problem.detail
    : (typeof problem.title === 'string' && problem.title) || fallbackDetail(res.status);
  const ra = Number.parseInt(res.headers.get('Retry-After') || '', 10);
  const retryAfter = Number.isFinite(ra) ? ra : null;
  if (res.status === 429 && retryAfter !== null && retryAfter > 0) {
    detail = `${detail.replace(/[;,.]?\s*(please\s+)?try again later\.?$/i, '')}. ${retryText(retryAfter)}`;
  }
  detail = asSentence(detail);
  return new ApiError(res.status, detail, {
    title: problem.title || '', type: problem.type || '', retryAfter, problem,
  });
}

async function parseBody(res) {
  const text = await res.text();
  if (res.status === 204 || !text) return null;
  try { return JSON.parse(text); } catch { return text; }
}

// Refreshes the CSRF token from the current session; true if it changed.
async function refreshCsrf() {
  try {
    const res = await fetch('/v1/sessions/current', { credentials: 'same-origin', cache: 'no-store' });
    if (!res.ok) return false;
    const s = await res.json();
    if (s.csrf && s.csrf !== csrfToken) { csrfToken = s.csrf; return true; }
  } catch { /* the original error is reported */ }
  return false;
}

// request('PATCH', '/v1/me/profile', {json, contentType, ifMatch}) ->
// {data, etag, status}. Throws ApiError.
export async function request(method, path, opts = {}) {
  const { json, ifMatch, contentType = 'application/json', allow401 = false, retried = false } = opts;
  const headers = { Accept: 'application/json, application/problem+json' };
  let body;
  if (json !== undefined) {
    body = JSON.stringify(json);
    headers['Content-Type'] = contentType;
  }
  if (!SAFE.has(method) && csrfToken) headers['X-CSRF-Token'] = csrfToken;
  if (ifMatch) headers['If-Match'] = ifMatch;

  let res;
  try {
    res = await fetch(path, { method, headers, body, credentials: 'same-origin', cache: 'no-store' });
  } catch {
    throw new ApiError(0, 'Could not reach CCX. Check your connection and try again.');
  }
  if (res.ok) return { data: await parseBody(res), etag: res.headers.get('ETag'), status: res.status };

  // A stale CSRF token (e.g. after signing in again in another tab): retry once.
  if (res.status === 403 && !SAFE.has(method) && !retried && await refreshCsrf()) {
    return request(method, path, { ...opts, retried: true });
  }
  const error = await toError(res);
  if (res.status === 401 && !allow401) sessionLost(error);
  throw error;
}

export const get = async (path, opts) => (await request('GET', path, opts)).data;
export const post = async (path, json, opts) => (await request('POST', path, { ...opts, json })).data;
export const put = async (path, json, opts) => (await request('PUT', path, { ...opts, json })).data;
export const del = async (path, opts) => (await request('DELETE', path, opts)).data;
