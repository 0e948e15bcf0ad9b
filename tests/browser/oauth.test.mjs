// The authorization-code flow with PKCE as a company starts it: the test
// plays Acme Outdoor (building the /oauth/authorize link, receiving the
// redirect on its loopback stand-in, exchanging the code, fetching the
// profile) and the browser plays the customer on the consent screen.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import {
  startWorld, openPage, assertCleanConsole, screenshot, tid, expect, pkcePair, b64url,
  uniqueLogin, createCustomer, companyPost, companyGet, PASSWORD, DAY, nowSeconds, softChecks, eventually,
} from './lib.mjs';

const PROFILE = {
  identity: { name: 'Ben Example' },
  contact: { email: 'ben@example.org', phone: '+15555550123' },
  language: 'de-AT',
  sizes: { shoe_eu: 44, jacket: 'L' },
  diet: { vegan: true },
};
const REQUESTED = ['read:contact.email', 'read:language', 'read:sizes'];
const LABELS = {
  'read:contact.email': 'Your e-mail address',
  'read:language': 'Your language',
  'read:sizes': 'Your clothing and shoe sizes',
};

// The link a company puts behind its "Connect with CCX" button.
function authorizeRequest(world, { purpose = 'personalization', scopes = REQUESTED } = {}) {
  const { verifier, challenge } = pkcePair();
  const state = b64url(randomBytes(16));
  const q = new URLSearchParams({
    response_type: 'code',
    client_id: world.acme.id,
    redirect_uri: world.standIn.redirectUri,
    scope: scopes.join(' '),
    purpose,
    state,
    code_challenge: challenge,
    code_challenge_method: 'S256',
  });
  return { url: `${world.origin}/oauth/authorize?${q}`, verifier, state };
}

async function signIn(page, login) {
  await tid(page, 'login-login').fill(login);
  await tid(page, 'login-password').fill(PASSWORD);
  await tid(page, 'login-submit').click();
}

describe('authorization-code flow', () => {
  let world;
  let login;
  let session; // one browser context: the customer stays signed in
  before(async () => {
    world = await startWorld();
    login = uniqueLogin('ben');
    await createCustomer(world, login, PROFILE);
  });
  after(async () => {
    await session?.context.close().catch(() => {});
    await world?.close();
  });

  it('consent: sign in, untick a field, choose an expiry, approve; Acme gets only those fields', { timeout: 30000 }, async () => {
    session = await openPage(world);
    const { page, log } = session;
    const soft = softChecks();

    // The discovery document names the endpoints the company uses.
    const meta = await world.request('GET', '/.well-known/oauth-authorization-server');
    assert.equal(meta.status, 200);
    assert.equal(meta.json.authorization_endpoint, `${world.issuer}/oauth/authorize`);
    assert.equal(meta.json.token_endpoint, `${world.issuer}/oauth/token`);

    const req = authorizeRequest(world);
    const arrived = world.standIn.next(req.state);
    await page.goto(req.url);

    // Not signed in: the sign-in form, worded for the connection request.
    await expect(tid(page, 'login-form')).toBeVisible();
    await expect(page.locator('#auth-heading')).toHaveText('Sign in to continue');
    await expect(page.locator('#nav')).toBeHidden();
    await screenshot(page, '07-consent-sign-in');
    await signIn(page, login);

    // The consent screen: the company, the purpose, each field in plain words.
    const form = tid(page, 'consent-form');
    await expect(form).toBeVisible();
    await expect(tid(page, 'current-user')).toHaveText(login);
    await expect(page.locator('#consent-heading')).toHaveText('Acme Outdoor would like to read parts of your profile');
    await expect(tid(page, 'consent')).toContainText('Tents, boots and rain gear for every season.');
    await expect(tid(page, 'consent-purpose')).toHaveText('Personalisation — to tailor what they show you');
    await expect(form.locator('input[data-scope]')).toHaveCount(REQUESTED.length);
    for (const scope of REQUESTED) {
      const box = tid(page, `consent-scope-${scope}`);
      await expect(box).toBeChecked();
      const id = await box.getAttribute('id');
      await expect(page.locator(`label[for="${id}"]`)).toHaveText(LABELS[scope]);
    }
    await expect(tid(page, 'consent')).toContainText('After you decide, you go back to 127.0.0.1:');
    await expect(tid(page, 'consent-expiry-90d')).toBeChecked(); // the broker's default
    assert.equal(page.url(), req.url, 'the query stays in place');
    await screenshot(page, '08-consent');

    // Share less than asked, for 30 days.
    await tid(page, 'consent-scope-read:sizes').uncheck();
    await tid(page, 'consent-expiry-30d').check();
    const before = nowSeconds();
    await tid(page, 'consent-approve').click();

    // Back at the company, with a code and the state it sent.
    await page.waitForURL((u) => u.href.startsWith(`${world.standIn.redirectUri}?`), { timeout: 7000 });
    const hit = await arrived;
    const back = new URL(page.url());
    assert.equal(`${back.origin}${back.pathname}`, world.standIn.redirectUri);
    assert.equal(back.searchParams.get('state'), req.state);
    assert.equal(back.searchParams.get('iss'), world.issuer);
    assert.equal(back.searchParams.get('error'), null);
    const code = back.searchParams.get('code');
    assert.ok(code, `a code in ${page.url()}`);
    assert.equal(hit.params.code, code, 'the stand-in received the same code');
    await expect(page.locator('#result')).toHaveText('Connected');

    // The company's back end exchanges the code (client_secret_basic).
    let r = await companyPost(world, '/oauth/token', {
      grant_type: 'authorization_code', code, redirect_uri: world.standIn.redirectUri, code_verifier: req.verifier,
    });
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.token_type.toLowerCase(), 'bearer');
    assert.deepEqual(r.json.scope.split(' ').sort(), ['read:contact.email', 'read:language']);
    assert.ok(r.json.refresh_token, 'a refresh token');
    const accessToken = r.json.access_token;

    // Only the approved fields.
    r = await companyGet(world, '/v1/profile', accessToken);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, { contact: { email: 'ben@example.org' }, language: 'de-AT' });

    // The grant behind it: the chosen fields, the purpose, 30 days.
    r = await companyGet(world, '/v1/company/grants');
    assert.equal(r.status, 200, r.text);
    assert.equal(r.json.grants.length, 1);
    const g = r.json.grants[0];
    assert.deepEqual([...g.scopes].sort(), ['read:contact.email', 'read:language']);
    assert.equal(g.purpose, 'personalization');
    assert.ok(Math.abs(g.expires_at - (before + 30 * DAY)) <= 60, `expires_at ${g.expires_at} ≈ now + 30 days`);

    // The customer sees it under Access, in plain words.
    await page.goto(`${world.origin}/#/access`);
    const row = tid(page, 'grants-active').locator('[data-testid="grant-row"]');
    await expect(row).toHaveCount(1);
    await expect(row).toHaveAttribute('data-company', 'acme');
    await expect(row).toHaveAttribute('data-grant-id', g.id);
    await expect(row.locator('.scope-list li')).toHaveText(['Your e-mail address', 'Your language']);

    // A code works once; replaying it also ends what it gave (RFC 6749
    // 4.1.2), so the company's token stops working.
    r = await companyPost(world, '/oauth/token', {
      grant_type: 'authorization_code', code, redirect_uri: world.standIn.redirectUri, code_verifier: req.verifier,
    });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'invalid_grant');
    r = await companyGet(world, '/v1/profile', accessToken);
    assert.equal(r.status, 401, `fetch after the code was replayed: ${r.status} ${r.text}`);
    await soft.check('no console errors', async () => assertCleanConsole(log, world.origin));
    soft.verify();
  });

  it('deny: redirect back with error=access_denied and the state, no code', { timeout: 20000 }, async () => {
    if (!session) session = await openPage(world);
    const { page, log } = session;
    const req = authorizeRequest(world, { purpose: 'marketing', scopes: ['read:contact'] });
    const arrived = world.standIn.next(req.state);
    await page.goto(req.url);
    // Signed in already when the first test ran; otherwise sign in.
    const which = await eventually(async () => ((await tid(page, 'consent-form').isVisible() && 'consent')
      || (await tid(page, 'login-form').isVisible() && 'login')), { what: 'the consent screen or the sign-in form' });
    if (which === 'login') await signIn(page, login);
    await expect(tid(page, 'consent-form')).toBeVisible();
    await expect(tid(page, 'consent-purpose')).toHaveText('Marketing — to send you offers and news');
    await expect(page.locator(`label[for="${await tid(page, 'consent-scope-read:contact').getAttribute('id')}"]`))
      .toHaveText('Your contact details');
    await tid(page, 'consent-deny').click();
    await page.waitForURL((u) => u.href.startsWith(`${world.standIn.redirectUri}?`), { timeout: 7000 });
    await arrived;
    const back = new URL(page.url());
    assert.equal(back.searchParams.get('error'), 'access_denied');
    assert.equal(back.searchParams.get('state'), req.state);
    assert.equal(back.searchParams.get('iss'), world.issuer);
    assert.equal(back.searchParams.get('code'), null);
    await expect(page.locator('#result')).toHaveText('Not connected');
    // Nothing new was granted.
    const r = await companyGet(world, '/v1/company/grants');
    assert.equal(r.json.grants.filter((x) => x.purpose === 'marketing').length, 0);
    assertCleanConsole(log, world.origin);
  });
});
