// Account: change password, log out everywhere, export, delete.
import { request, put, del } from './api.js';
import {
  $, announce, busy, clearFormError, formError, reportError, confirmDialog,
} from './dom.js';

export function show() {
  const form = $('#password-form');
  form.reset();
  clearFormError(form);
}

function invalid(form, input, message) {
  input.setAttribute('aria-invalid', 'true');
  formError(form, message, 'Password not changed');
  input.focus();
}

async function changePassword(app, e) {
  e.preventDefault();
  const form = e.currentTarget;
  clearFormError(form);
  const current = form.current.value;
  const next = form.new.value;
  if (!current) return invalid(form, form.current, 'Enter your current password.');
  if (next.length < 12) return invalid(form, form.new, 'The new password needs at least 12 characters.');
  if (next !== form.confirm.value) return invalid(form, form.confirm, 'The two new passwords are not the same.');
  if (next === current) return invalid(form, form.new, 'The new password is the same as the current one.');
  await busy(form, async () => {
    try {
      await put('/v1/me/password', { current, new: next });
      form.reset();
      announce('Your password has been changed.');
    } catch (err) {
      if (String(err.type).endsWith('/wrong-password')) invalid(form, form.current, 'Your current password is not right.');
      else reportError(err, 'Password not changed', form);
    }
  });
}

async function logoutEverywhere(app) {
  const ok = await confirmDialog({
    title: 'Log out everywhere?',
    message: 'Every device signed in to your CCX account, including this one, will be logged out. Companies keep the access you gave them.',
    confirm: 'Log out everywhere',
  });
  if (!ok) return;
  try {
    await del('/v1/sessions');
  } catch (e) {
    reportError(e, 'Could not log out everywhere');
    return;
  }
  app.signedOut('You have been logged out on every device.', { announceOnly: true });
}

function exportName(login) {
  const day = new Date().toISOString().slice(0, 10);
  const safe = String(login || 'account').replace(/[^a-z0-9._-]+/gi, '_');
  return `ccx-${safe}-${day}.json`;
}

async function exportData(app, button) {
  button.disabled = true;
  try {
    const { data } = await request('GET', '/v1/me/export');
    const text = typeof data === 'string' ? data : JSON.stringify(data, null, 2);
    const url = URL.createObjectURL(new Blob([text], { type: 'application/json' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = exportName(app.session?.login);
    a.hidden = true;
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    announce(`Your data is downloading as ${a.download}.`);
  } catch (e) {
    reportError(e, 'Could not download your data');
  } finally {
    button.disabled = false;
  }
}

async function deleteAccount(app) {
  const login = app.session?.login || '';
  const ok = await confirmDialog({
    title: 'Delete your account?',
    message: 'Every company loses access at once. Your profile, your sessions and your activity are erased. This cannot be undone.',
    confirm: 'Delete my account',
    danger: true,
    typed: login || 'delete',
  });
  if (!ok) return;
  try {
    await del('/v1/me');
  } catch (e) {
    reportError(e, 'Account not deleted');
    return;
  }
  app.signedOut('Your account has been deleted. Thank you for using CCX.');
}

export function wire(app) {
  $('#password-form').addEventListener('submit', (e) => changePassword(app, e));
  $('#logout-all').addEventListener('click', () => logoutEverywhere(app));
  $('#export').addEventListener('click', (e) => exportData(app, e.currentTarget));
  $('#delete-account').addEventListener('click', () => deleteAccount(app));
}
