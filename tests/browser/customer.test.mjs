// A new customer, from sign-up to revoking a company's access, through the
// page only: the profile through its forms (and the JSON editor for a
// custom section), a grant made by ticking fields, the company's read seen
// in the activity list in plain words, and the revocation taking effect.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startWorld, openPage, assertCleanConsole, screenshot, tid, eventually,
  uniqueLogin, PASSWORD, GRANT_TYPE, companyPost, companyGet, DAY, expect, softChecks,
} from './lib.mjs';

describe('customer journey', () => {
  let world;
  before(async () => { world = await startWorld(); });
  after(async () => { await world?.close(); });

  it('signs up, fills the profile, grants Acme access, sees its read and revokes', { timeout: 45000 }, async () => {
    const { page, log, context } = await openPage(world);
    const status = tid(page, 'status-text');
    const login = uniqueLogin('ana');
    const soft = softChecks();

    // ---- sign up --------------------------------------------------------
    await page.goto(`${world.origin}/`);
    await expect(tid(page, 'login-form')).toBeVisible();
    await expect(page.locator('h1#auth-heading')).toHaveText('Sign in to CCX');
    await expect(tid(page, 'current-user')).toBeHidden();
    await screenshot(page, '01-sign-in');
    await tid(page, 'show-register').click();
    await expect(tid(page, 'register-form')).toBeVisible();
    await expect(tid(page, 'register-login')).toBeFocused();
    await tid(page, 'register-login').fill(login);
    await tid(page, 'register-password').fill(PASSWORD);
    await tid(page, 'register-confirm').fill(PASSWORD);
    await tid(page, 'register-submit').click();
    await expect(tid(page, 'current-user')).toHaveText(login);
    await expect(status).toContainText('Welcome to CCX');
    await expect(tid(page, 'nav-profile')).toHaveAttribute('aria-current', 'page');
    await expect(tid(page, 'profile-progress')).toHaveText('0 of 8 standard sections filled in.');

    // ---- the profile, section by section ----------------------------------
    const save = async (key, title) => {
      await tid(page, `save-${key}`).click();
      await expect(tid(page, `saved-${key}`)).toHaveText('Saved');
      await expect(status).toHaveText(`${title} saved.`);
      await expect(tid(page, `form-${key}`)).toBeHidden();
    };

    await tid(page, 'edit-identity').click();
    await expect(tid(page, 'form-identity')).toBeVisible();
    await expect(tid(page, 'field-identity-name')).toBeFocused();
    await tid(page, 'field-identity-name').fill('Ana Example');
    await tid(page, 'field-identity-preferred_name').fill('Ana');
    await tid(page, 'field-identity-pronouns').fill('she/her');
    await save('identity', 'Identity');
    await expect(tid(page, 'summary-identity')).toContainText('Ana Example');

    await tid(page, 'edit-contact').click();
    await tid(page, 'field-contact-email').fill('ana@example.org');
    await tid(page, 'field-contact-phone').fill('+44 20 7946 0958');
    await tid(page, 'field-contact-postal-street').fill('1 High Street');
    await tid(page, 'field-contact-postal-postcode').fill('SW1A 1AA');
    await tid(page, 'field-contact-postal-city').fill('London');
    await tid(page, 'field-contact-postal-country').fill('United Kingdom');
    await save('contact', 'Contact details');
    await expect(tid(page, 'summary-contact')).toContainText('+442079460958');
    // The address reads in the order it was entered (the form's order).
    await soft.check('postal address summary', () => expect(tid(page, 'summary-contact'), { timeout: 500 })
      .toContainText('Postal address1 High Street, SW1A 1AA, London, United Kingdom'));

    await tid(page, 'edit-communication').click();
    await tid(page, 'field-communication-channels-email').check();
    await tid(page, 'field-communication-channels-post').check();
    await tid(page, 'field-communication-frequency').selectOption('weekly');
    await tid(page, 'field-communication-quiet_hours-start').fill('21:00');
    await tid(page, 'field-communication-quiet_hours-end').fill('08:00');
    await tid(page, 'field-communication-quiet_hours-tz').fill('Europe/London');
    await save('communication', 'Communication');
    await expect(tid(page, 'summary-communication')).toContainText('E-mail, Letter (post)');
    await expect(tid(page, 'summary-communication')).toContainText('21:00 to 08:00 (Europe/London)');

    await tid(page, 'edit-language').click();
    await tid(page, 'field-language').fill('en-GB');
    await save('language', 'Language');
    await expect(tid(page, 'summary-language')).toContainText('en-GB');

    await tid(page, 'edit-interests').click();
    await tid(page, 'field-interests-input').fill('hiking');
    await tid(page, 'field-interests-input').press('Enter');
    await tid(page, 'field-interests-input').fill('climbing, camping');
    await tid(page, 'field-interests-add').click();
    await expect(tid(page, 'field-interests-items').locator('li')).toHaveText(['hiking×', 'climbing×', 'camping×']);
    await save('interests', 'Interests');
    await expect(tid(page, 'summary-interests')).toContainText('hiking, climbing, camping');

    await tid(page, 'edit-sizes').click();
    const rows = tid(page, 'field-sizes-rows').locator('.pair');
    await expect(rows).toHaveCount(2); // the starter rows: shoe_eu and shirt
    await expect(rows.nth(0).locator('.pair-key')).toHaveValue('shoe_eu');
    await rows.nth(0).locator('.pair-value').fill('42');
    await rows.nth(1).locator('.pair-value').fill('M');
    await tid(page, 'field-sizes-add').click();
    await expect(rows).toHaveCount(3);
    await expect(rows.nth(2).locator('.pair-key')).toBeFocused();
    await rows.nth(2).locator('.pair-key').fill('glove');
    await rows.nth(2).locator('.pair-value').fill('8.5');
    await save('sizes', 'Sizes');
    await expect(tid(page, 'summary-sizes')).toContainText('Shoe (EU): 42');

    await tid(page, 'edit-diet').click();
    await tid(page, 'field-diet-vegetarian').check();
    await tid(page, 'field-diet-allergies-input').fill('peanuts');
    await save('diet', 'Diet');

    // A custom section through the raw JSON view.
    await tid(page, 'edit-other').click();
    await expect(tid(page, 'raw-json')).toBeFocused();
    await expect(tid(page, 'raw-json')).toHaveValue('{}');
    await tid(page, 'raw-json').fill('{"pets": {"dog": true, "dog_name": "Rex"}}');
    await tid(page, 'save-other').click();
    await expect(status).toHaveText('Other sections saved.');
    await expect(tid(page, 'summary-other')).toContainText('One section: pets.');
    await expect(tid(page, 'profile-progress')).toHaveText('7 of 8 standard sections filled in.');

    const expectedProfile = {
      identity: { name: 'Ana Example', preferred_name: 'Ana', pronouns: 'she/her' },
      contact: {
        email: 'ana@example.org',
        phone: '+442079460958',
        postal: { street: '1 High Street', postcode: 'SW1A 1AA', city: 'London', country: 'United Kingdom' },
      },
      communication: {
        channels: ['email', 'post'], frequency: 'weekly', quiet_hours: { start: '21:00', end: '08:00', tz: 'Europe/London' },
      },
      language: 'en-GB',
      interests: ['hiking', 'climbing', 'camping'],
      sizes: { shoe_eu: 42, shirt: 'M', glove: 8.5 },
      diet: { vegetarian: true, allergies: ['peanuts'] },
      pets: { dog: true, dog_name: 'Rex' },
    };
    await tid(page, 'show-json').click();
    await expect(tid(page, 'profile-json')).toBeVisible();
    assert.deepEqual(JSON.parse(await tid(page, 'profile-json').textContent()), expectedProfile);
    // What is stored, not only what the page shows: reload and compare.
    await page.reload();
    await expect(tid(page, 'current-user')).toHaveText(login);
    assert.deepEqual(JSON.parse(await tid(page, 'profile-json').textContent()), expectedProfile);
    await screenshot(page, '02-profile');

    // ---- give Acme access ------------------------------------------------
    await tid(page, 'nav-companies').click();
    await expect(tid(page, 'nav-companies')).toHaveAttribute('aria-current', 'page');
    const acmeCard = tid(page, 'company-acme');
    await expect(acmeCard).toContainText('Acme Outdoor');
    await expect(acmeCard).toContainText('No access to your profile');
    await expect(tid(page, 'company-northwind')).toContainText('Northwind Foods');
    await tid(page, 'share-acme').click();
    await expect(tid(page, 'grant-form')).toBeVisible();
    await expect(page.locator('#share-heading')).toHaveText('Give Acme Outdoor access');
    await expect(tid(page, 'grant-company')).toHaveValue('acme');
    await expect(tid(page, 'grant-summary')).toHaveText('Tick at least one part of your profile to share.');
    await tid(page, 'scope-read:contact.email').check();
    await tid(page, 'scope-read:language').check();
    await tid(page, 'scope-read:interests').check();
    await tid(page, 'purpose-personalization').check();
    // Until a chosen date, 60 days from now (the page ends access at the
    // end of that day in the browser's time zone, here UTC).
    const until = new Date(Date.now() + 60 * DAY * 1000);
    const isoDay = until.toISOString().slice(0, 10);
    const expectedExpiry = Math.floor(Date.UTC(until.getUTCFullYear(), until.getUTCMonth(), until.getUTCDate(), 23, 59, 59) / 1000);
    // Both the "until a date" radio and the date box carry the test id
    // grant-expiry-date; tell them apart by type.
    await expect(tid(page, 'grant-expiry-90d')).toBeChecked(); // the default
    await page.locator('[data-testid="grant-expiry-date"][type="radio"]').check();
    await page.locator('[data-testid="grant-expiry-date-input"]').fill(isoDay);
    await expect(page.locator('[data-testid="grant-expiry-date"][type="radio"]')).toBeChecked();
    const untilText = await page.evaluate((ms) => new Intl.DateTimeFormat('en-GB', {
      day: 'numeric', month: 'short', year: 'numeric',
    }).format(new Date(ms)), expectedExpiry * 1000);
    const what = 'your e-mail address, your language and your interests';
    await expect(tid(page, 'grant-summary'))
      .toHaveText(`Acme Outdoor will be able to read ${what} for personalisation until ${untilText}.`);
    await screenshot(page, '03-grant-form');
    await tid(page, 'grant-submit').click();
    // From here the scopes come back from the broker, as a normalised
    // (sorted) set.
    const stored = 'your e-mail address, your interests and your language';

    await expect(status).toHaveText(`Acme Outdoor can now read ${stored} until ${untilText}.`);
    await expect(tid(page, 'nav-access')).toHaveAttribute('aria-current', 'page');
    const row = tid(page, 'grants-active').locator('[data-testid="grant-row"]');
    await expect(row).toHaveCount(1);
    await expect(row).toHaveAttribute('data-company', 'acme');
    await expect(row).toHaveAttribute('data-state', 'active');
    await expect(row.locator('[data-testid="grant-state"]')).toHaveText('Active');
    await expect(row).toContainText('Personalisation — to tailor what they show you');
    await expect(row.locator('.scope-list li')).toHaveText(['Your e-mail address', 'Your interests', 'Your language']);
    const grantId = await row.getAttribute('data-grant-id');
    assert.ok(grantId);
    assert.match(page.url(), new RegExp(`#/access/${grantId}$`));
    await screenshot(page, '04-access-list');

    // The company sees the grant exactly as chosen.
    let r = await companyGet(world, '/v1/company/grants');
    assert.equal(r.status, 200, r.text);
    const g = r.json.grants.find((x) => x.id === grantId);
    assert.ok(g, `grant ${grantId} listed for Acme`);
    assert.deepEqual([...g.scopes].sort(), ['read:contact.email', 'read:interests', 'read:language']);
    assert.equal(g.purpose, 'personalization');
    assert.equal(g.expires_at, expectedExpiry);
    assert.equal(g.state, 'active');

    // ---- Acme reads the profile ------------------------------------------
    r = await companyPost(world, '/oauth/token', { grant_type: GRANT_TYPE, grant_id: grantId });
    assert.equal(r.status, 200, r.text);
    const accessToken = r.json.access_token;
    r = await companyGet(world, '/v1/profile', accessToken);
    assert.equal(r.status, 200, r.text);
    assert.deepEqual(r.json, {
      contact: { email: 'ana@example.org' }, language: 'en-GB', interests: ['hiking', 'climbing', 'camping'],
    });

    // ---- the read in the activity list, in plain words -------------------
    await tid(page, 'nav-activity').click();
    await expect(tid(page, 'activity-list')).toBeVisible();
    const readItem = page.locator('[data-testid="activity-item"][data-kind="profile.read"]');
    await eventually(async () => {
      if (await readItem.count()) return true;
      await page.reload();
      await expect(tid(page, 'activity-list')).toBeVisible();
      return false;
    }, { timeout: 5000, what: 'the read in the activity list' });
    await expect(readItem).toHaveCount(1);
    const readText = (await readItem.locator('.event-text').textContent()).trim();
    const m = /^Acme Outdoor read (.+) on \d{1,2} \S+ \d{4}\b.*\d{2}:\d{2}$/.exec(readText);
    assert.ok(m, `plain-words read: ${JSON.stringify(readText)}`);
    for (const part of ['your e-mail address', 'your language', 'your interests']) {
      assert.ok(m[1].includes(part), `"${readText}" names ${part}`);
    }
    await expect(readItem.locator('.event-tag')).toHaveText('Read');
    await expect(page.locator('[data-testid="activity-item"][data-kind="grant.created"] .event-text'))
      .toContainText(`You gave Acme Outdoor access to ${stored} for personalisation`);
    await expect(page.locator('[data-testid="activity-item"][data-kind="session.created"] .event-text').first())
      .toContainText('You signed in');
    // Newest first: the read comes before the grant.
    const kinds = await page.locator('[data-testid="activity-item"]').evaluateAll((els) => els.map((e) => e.dataset.kind));
    assert.ok(kinds.indexOf('profile.read') < kinds.indexOf('grant.created'), `order: ${kinds}`);
    await screenshot(page, '05-activity');

    // ---- revoke ------------------------------------------------------------
    await tid(page, 'nav-access').click();
    await tid(page, `revoke-${grantId}`).click();
    const dialog = tid(page, 'confirm-dialog');
    await expect(dialog).toBeVisible();
    await expect(dialog.locator('#confirm-title')).toHaveText('Revoke Acme Outdoor’s access?');
    await expect(dialog).toContainText(`Acme Outdoor will immediately stop being able to read ${stored}.`);
    await expect(tid(page, 'confirm-cancel')).toBeFocused();
    // Cancel first: nothing happens.
    await tid(page, 'confirm-cancel').click();
    await expect(dialog).toBeHidden();
    await expect(tid(page, `revoke-${grantId}`)).toBeFocused();
    await expect(row).toHaveAttribute('data-state', 'active');
    await tid(page, `revoke-${grantId}`).click();
    await expect(tid(page, 'confirm-ok')).toHaveText('Revoke access');
    await tid(page, 'confirm-ok').click();
    await expect(dialog).toBeHidden();
    await expect(status).toHaveText(`Acme Outdoor can no longer read ${stored}.`);
    await expect(tid(page, 'grants-active')).toHaveCount(0);
    await expect(tid(page, 'grant-list')).toContainText('No company can read your profile right now.');
    await page.locator('#access-ended-heading').click(); // open "Ended (1 grant)"
    const ended = tid(page, 'grants-ended').locator('[data-testid="grant-row"]');
    await expect(ended).toHaveCount(1);
    await expect(ended).toHaveAttribute('data-grant-id', grantId);
    await expect(ended).toHaveAttribute('data-state', 'revoked');
    await expect(ended.locator('[data-testid="grant-state"]')).toHaveText('Revoked');
    await expect(ended.locator(`[data-testid="revoke-${grantId}"]`)).toHaveCount(0);
    await screenshot(page, '06-access-revoked');

    // Immediate effect for the company: the token it holds stops working.
    r = await companyGet(world, '/v1/profile', accessToken);
    assert.equal(r.status, 401, `fetch after revoke: ${r.status} ${r.text}`);
    r = await companyPost(world, '/oauth/token', { grant_type: GRANT_TYPE, grant_id: grantId });
    assert.equal(r.status, 400, r.text);
    assert.equal(r.json.error, 'invalid_grant');

    await tid(page, 'nav-activity').click();
    await expect(page.locator('[data-testid="activity-item"][data-kind="grant.revoked"] .event-text'))
      .toContainText(`You revoked Acme Outdoor’s access to ${stored}`);

    // ---- log out ------------------------------------------------------------
    await tid(page, 'logout').click();
    await expect(tid(page, 'login-form')).toBeVisible();
    await expect(status).toHaveText('You have logged out.');
    await expect(tid(page, 'current-user')).toBeHidden();
    await expect(page.locator('#nav')).toBeHidden();

    assertCleanConsole(log, world.origin);
    soft.verify();
    await context.close();
  });
});
