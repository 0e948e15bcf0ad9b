// Sign in and create an account.
import { post, request } from './api.js';
import { $, busy, clearFormError, formError, reportError, announce, clear } from './dom.js';

let mode = 'login';

export function notice(message) {
  const el = $('#auth-notice');
  clear(el, message);
  el.hidden = !message;
}

function setMode(next, focus = true) {
  mode = next;
  $('#login-card').hidden = mode !== 'login';
  $('#register-card').hidden = mode !== 'register';
  if (focus) $(mode === 'login' ? '#login-login' : '#register-login').focus();
}

export function show(app) {
  const consent = app.isConsentPage();
  $('#auth-heading').textContent = consent ? 'Sign in to continue' : 'Sign in to CCX';
  $('#auth-lead').textContent = consent
    ? 'A company is asking to read parts of your CCX profile. Sign in (or create an account) to see exactly what, and to decide.'
    : 'Keep one set of preferences and decide which companies may read which parts, for what, and for how long.';
  setMode(mode, false);
}

function markInvalid(input, form, message) {
  input.setAttribute('aria-invalid', 'true');
  formError(form, message, 'Please check');
  input.focus();
}

// Signs in with the cookie session and tells the app.
async function signIn(app, login, password) {
  const { data } = await request('POST', '/v1/sessions', { json: { login, password, cookie: true }, allow401: true });
  await app.signedIn(data?.csrf);
}

async function onLogin(app, e) {
  e.preventDefault();
  const form = e.currentTarget;
  clearFormError(form);
  const login = form.login.value.trim();
  const password = form.password.value;
  if (!login) return markInvalid(form.login, form, 'Enter your login.');
  if (!password) return markInvalid(form.password, form, 'Enter your password.');
  await busy(form, async () => {
    try {
      await signIn(app, login, password);
      form.reset();
      notice('');
    } catch (err) {
      const message = err.status === 401 ? 'That login and password do not match an account.' : err.detail || String(err);
      formError(form, message, 'Not signed in');
      form.password.select();
    }
  });
}

async function onRegister(app, e) {
  e.preventDefault();
  const form = e.currentTarget;
  clearFormError(form);
  const login = form.login.value.trim().toLowerCase();
  const password = form.password.value;
  if (!/^[a-z0-9._@+-]{3,64}$/.test(login)) {
    return markInvalid(form.login, form, 'A login is 3 to 64 characters: letters, digits and . _ @ + -');
  }
  if (password.length < 12) return markInvalid(form.password, form, 'The password needs at least 12 characters.');
  if (password !== form.confirm.value) return markInvalid(form.confirm, form, 'The two passwords are not the same.');
  await busy(form, async () => {
    try {
      await post('/v1/customers', { login, password });
    } catch (err) {
      reportError(err, 'Account not created', form);
      return;
    }
    try {
      await signIn(app, login, password);
      form.reset();
      setMode('login', false);
      notice('');
      announce(app.isConsentPage() ? 'Welcome to CCX. Your account is ready.'
        : 'Welcome to CCX. Your account is ready — start with your profile.');
    } catch (err) {
      setMode('login');
      $('#login-login').value = login;
      reportError(err, 'Your account was created, but signing in failed');
    }
  });
}

export function wire(app) {
  $('#login-form').addEventListener('submit', (e) => onLogin(app, e));
  $('#register-form').addEventListener('submit', (e) => onRegister(app, e));
  $('#show-register').addEventListener('click', () => setMode('register'));
  $('#show-login').addEventListener('click', () => setMode('login'));
}
