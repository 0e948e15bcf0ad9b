// Using the page without a mouse, and on a narrow phone screen.
import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import {
  startWorld, openPage, assertCleanConsole, tid, expect, uniqueLogin, createCustomer, PASSWORD, PHONE, softChecks,
} from './lib.mjs';

// What has the keyboard focus, described for assertions and messages.
const focused = (page) => page.evaluate(() => {
  const el = document.activeElement;
  return el ? (el.dataset.testid || el.id || el.className || el.tagName.toLowerCase()) : null;
});

describe('keyboard and small screens', () => {
  let world;
  before(async () => { world = await startWorld(); });
  after(async () => { await world?.close(); });

  it('signs in with the keyboard only (Tab, typing, Enter)', { timeout: 20000 }, async () => {
    const login = uniqueLogin('kim');
    await createCustomer(world, login);
    const { page, log, context } = await openPage(world);
    await page.goto(`${world.origin}/`);
    await expect(tid(page, 'login-form')).toBeVisible();

    // From the top of the page: the skip link comes first, then the brand,
    // then the login box, within a few presses.
    const path = [];
    for (let i = 0; i < 6 && (await focused(page)) !== 'login-login'; i++) {
      await page.keyboard.press('Tab');
      path.push(await focused(page));
    }
    assert.equal(path[0], 'skip-link', `first Tab stop: ${path}`);
    assert.equal(await focused(page), 'login-login', `Tab order: ${path.join(' → ')}`);
    await page.keyboard.type(login);
    await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'login-password');
    // A wrong password first: the error is announced and focus stays usable.
    await page.keyboard.type('not the password at all');
    await page.keyboard.press('Enter');
    await expect(page.locator('#login-form .form-error')).toContainText('That login and password do not match an account.');
    await expect(tid(page, 'login-password')).toBeFocused();
    await page.keyboard.type(PASSWORD); // the wrong one is selected: typing replaces it
    await page.keyboard.press('Enter');
    await expect(tid(page, 'current-user')).toHaveText(login);
    await expect(tid(page, 'nav-profile')).toHaveAttribute('aria-current', 'page');
    // Focus moves to the new view's heading, for screen readers.
    await expect(page.locator('#profile-heading')).toBeFocused();

    // Keyboard navigation continues: Tab reaches the main nav, Enter follows it.
    let hops = 0;
    await page.locator('#brand').focus();
    while ((await focused(page)) !== 'nav-activity' && hops++ < 10) await page.keyboard.press('Tab');
    assert.equal(await focused(page), 'nav-activity');
    await page.keyboard.press('Enter');
    await expect(tid(page, 'nav-activity')).toHaveAttribute('aria-current', 'page');
    await expect(page.locator('#activity-heading')).toBeFocused();
    await expect(page.locator('[data-testid="activity-item"][data-kind="session.created"]').first()).toBeVisible();

    // The skip link jumps to the content and keeps the current view.
    const soft = softChecks();
    await page.locator('#brand').focus();
    await page.keyboard.press('Shift+Tab');
    assert.equal(await focused(page), 'skip-link');
    await expect(page.locator('.skip-link')).toBeVisible(); // shown while focused
    await page.keyboard.press('Enter');
    await soft.check('skip link keeps the view', () => expect(tid(page, 'nav-activity'), { timeout: 1000 })
      .toHaveAttribute('aria-current', 'page'));
    await soft.check('skip link keeps the view', () => expect(page.locator('#view-activity'), { timeout: 1000 }).toBeVisible());
    await soft.check('skip link moves focus to the content', () => expect(page.locator('#main'), { timeout: 1000 }).toBeFocused());

    // A wrong password was tried on purpose above: its 401 is expected.
    assertCleanConsole(log, world.origin, { allow: [{ path: '/v1/sessions', status: 401 }] });
    soft.verify();
    await context.close();
  });

  it('at 360 px every nav link is on screen, large enough to tap and works', { timeout: 20000 }, async () => {
    const login = uniqueLogin('lee');
    await createCustomer(world, login);
    const { page, log, context } = await openPage(world, { viewport: PHONE });
    await page.goto(`${world.origin}/`);
    await tid(page, 'login-login').fill(login);
    await tid(page, 'login-password').fill(PASSWORD);
    await tid(page, 'login-submit').click();
    await expect(tid(page, 'current-user')).toHaveText(login);
    await expect(tid(page, 'logout')).toBeVisible();

    const routes = [
      ['profile', '#profile-heading', 'Your profile'],
      ['companies', '#companies-heading', 'Companies'],
      ['access', '#access-heading', 'Access'],
      ['activity', '#activity-heading', 'Activity'],
      ['account', '#account-heading', 'Account'],
    ];
    // Order matters: start away from the profile so that every click navigates.
    for (const [name, heading, text] of [...routes.slice(1), routes[0]]) {
      const link = tid(page, `nav-${name}`);
      await expect(link).toBeVisible();
      const box = await link.boundingBox();
      assert.ok(box, `nav-${name} has a box`);
      assert.ok(box.x >= 0 && box.x + box.width <= PHONE.width + 0.5,
        `nav-${name} fits in the 360 px viewport: x=${box.x} w=${box.width}`);
      assert.ok(box.width >= 24 && box.height >= 24, `nav-${name} tap target ${box.width}×${box.height} (WCAG 2.5.8: 24×24)`);
      // The point a finger would hit is the link itself, not something on top of it.
      const hit = await page.evaluate(([x, y]) => document.elementFromPoint(x, y)?.closest('a')?.dataset.testid,
        [box.x + box.width / 2, box.y + box.height / 2]);
      assert.equal(hit, `nav-${name}`, `the middle of nav-${name} is covered by ${hit}`);
      await link.click();
      await expect(link).toHaveAttribute('aria-current', 'page');
      await expect(page.locator(heading)).toHaveText(text);
      await expect(page.locator(heading)).toBeVisible();
      // The page itself never scrolls sideways.
      const widths = await page.evaluate(() => [document.documentElement.scrollWidth, document.body.scrollWidth]);
      assert.ok(Math.max(...widths) <= PHONE.width, `${name}: page is ${widths} px wide at 360 px`);
    }
    // The whole nav is visible at once (no link hidden behind a scroller).
    const overflow = await page.locator('#nav ul').evaluate((ul) => ul.scrollWidth - ul.clientWidth);
    assert.ok(overflow <= 1, `the nav overflows by ${overflow} px`);
    assertCleanConsole(log, world.origin);
    await context.close();
  });
});
