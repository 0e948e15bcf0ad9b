// CCX customer page: session state, header, navigation and routing.
//
// Routes live in the URL fragment (#/profile, #/companies, #/companies/ID,
// #/access, #/activity, #/account). When the page is served at
// /oauth/authorize it shows the consent screen instead, after sign-in if
// needed; the query string stays in place so the flow continues.
import { get, del, setCsrf, onSessionLost } from './api.js';
import { $, $$, alertError, announce, dismissMessages } from './dom.js';
import { loadReference, resetReference } from './catalog.js';
import * as auth from './auth.js';
import * as profile from './profile.js';
import * as companies from './companies.js';
import * as access from './access.js';
import * as activity from './activity.js';
import * as account from './account.js';
import * as consent from './consent.js';

const ROUTES = {
  profile: { title: 'Profile', view: 'profile', nav: 'profile', show: profile.show },
  companies: { title: 'Companies', view: 'companies', nav: 'companies', show: companies.show },
  share: { title: 'Give access', view: 'share', nav: 'companies', show: companies.showShare },
  access: { title: 'Access', view: 'access', nav: 'access', show: access.show },
  activity: { title: 'Activity', view: 'activity', nav: 'activity', show: activity.show },
  account: { title: 'Account', view: 'account', nav: 'account', show: account.show },
};

const app = {
  session: null, // {customer_id, login, expires_at}
  rendered: false,
  isConsentPage: () => window.location.pathname === '/oauth/authorize',
  // Goes to a route; `message` is announced once the new view is shown.
  navigate(hash, message = null) {
    pendingMessage = message;
    if (window.location.hash === hash) render();
    else window.location.hash = hash;
  },
  // After a successful sign-in (or sign-up followed by sign-in).
  async signedIn(csrf) {
    setCsrf(csrf);
    await loadSession();
    if (!app.session) throw new Error('The session could not be read back.');
    await render({ focus: true });
  },
  // After log-out, log-out everywhere, account deletion or a lost session.
  signedOut(message, { announceOnly = false } = {}) {
    app.session = null;
    setCsrf(null);
    resetReference();
    profile.reset();
    activity.reset();
    render({ focus: true });
    if (message && announceOnly) announce(message);
    else if (message) auth.notice(message);
  },
  render: (opts) => render(opts),
};

async function loadSession() {
  try {
    const s = await get('/v1/sessions/current', { allow401: true });
    app.session = { customer_id: s.customer_id, login: s.login, expires_at: s.expires_at };
    setCsrf(s.csrf);
  } catch (e) {
    app.session = null;
    setCsrf(null);
    if (e.status !== 401) alertError(e.detail, 'Could not check whether you are signed in');
  }
}

function parseRoute() {
  const parts = window.location.hash.replace(/^#\/?/, '').split('/').filter(Boolean).map(decodeURIComponent);
  let [name, ...params] = parts;
  if (name === 'companies' && params.length) { name = 'share'; }
  return { name: ROUTES[name] ? name : 'profile', params };
}

function showView(name) {
  for (const v of $$('.view')) v.hidden = v.dataset.view !== name;
}

function setHeader(navName) {
  const signedIn = Boolean(app.session);
  $('#who').hidden = !signedIn;
  $('#who-login').textContent = signedIn ? app.session.login || '' : '';
  $('#nav').hidden = !signedIn || app.isConsentPage();
  for (const a of $$('#nav a')) {
    if (a.dataset.route === navName) a.setAttribute('aria-current', 'page');
    else a.removeAttribute('aria-current');
  }
  $('#brand').setAttribute('href', app.isConsentPage() ? window.location.pathname + window.location.search : '#/profile');
}

// Moves focus to the view's heading so screen readers announce the new page.
function focusHeading(viewName) {
  const heading = $(`#view-${viewName} h1`);
  if (!heading) return;
  heading.setAttribute('tabindex', '-1');
  heading.focus({ preventScroll: true });
  window.scrollTo(0, 0);
}

let renderSeq = 0;
let pendingMessage = null;

async function render({ focus = false } = {}) {
  const seq = ++renderSeq;
  const isFirst = !app.rendered;
  app.rendered = true;
  if (!app.session) {
    setHeader(null);
    showView('auth');
    document.title = app.isConsentPage() ? 'Sign in to continue — CCX' : 'Sign in — CCX';
    auth.show(app);
    if (focus) focusHeading('auth');
    return;
  }
  if (app.isConsentPage()) {
    setHeader(null);
    showView('consent');
    document.title = 'Allow access? — CCX';
    await consent.show(app);
    if (focus || isFirst) focusHeading('consent');
    return;
  }
  const { name, params } = parseRoute();
  const route = ROUTES[name];
  setHeader(route.nav);
  showView(route.view);
  document.title = `${route.title} — CCX`;
  if (focus || !isFirst) focusHeading(route.view);
  await loadReference();
  if (seq !== renderSeq) return; // a newer navigation took over
  await route.show(app, params);
  if (pendingMessage) {
    announce(pendingMessage);
    pendingMessage = null;
  }
}

async function logout() {
  try {
    await del('/v1/sessions/current', { allow401: true });
  } catch (e) {
    if (e.status !== 401) { alertError(e.detail, 'Could not log out'); return; }
  }
  app.signedOut('You have logged out.', { announceOnly: true });
}

function wire() {
  $('#logout').addEventListener('click', logout);
  document.addEventListener('keydown', (e) => {
    if (e.key === 'Escape' && $('#alert').firstChild && !$('#confirm').open) dismissMessages();
  });
  window.addEventListener('hashchange', () => { dismissMessages(); render(); });
  // The skip link moves focus; following its #main would leave the route.
  $('.skip-link').addEventListener('click', (e) => { e.preventDefault(); $('#main').focus(); });
  auth.wire(app);
  account.wire(app);
  onSessionLost(() => {
    if (app.session) app.signedOut('Your session has ended. Please sign in again.');
  });
}

async function start() {
  wire();
  await loadSession();
  await render();
}

start().catch((e) => alertError(String(e?.message || e), 'The page could not start'));
