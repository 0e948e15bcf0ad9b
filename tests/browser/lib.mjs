// Shared helpers for the browser tests of the customer web page.
//
// startWorld() gives each test file its own deployment: a temporary data
// directory made with `ccx-admin init`, the company "Acme Outdoor"
// registered with a loopback redirect URI served by a small plain-HTTP
// stand-in (RFC 8252: any port matches a registered http://127.0.0.1:<port>/cb),
// a running `ccx-broker` on a free port, and Debian's chromium driven by
// playwright-core.  world.close() stops everything and removes the
// directory; it also runs when the process exits or is interrupted.
//
// The company's side (token endpoint, resource server) is spoken from Node
// over TLS that trusts only the deployment's own CA (certs/ca.pem).  The
// browser ignores certificate errors instead: it has to use
// https://localhost:PORT because the session cookie is a __Host- cookie.
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import assert from 'node:assert/strict';
import { chromium } from 'playwright-core';

const HERE = path.dirname(fileURLToPath(import.meta.url));
export const REPO = path.resolve(HERE, '..', '..');
export const BROKER_BIN = path.join(REPO, 'bin', 'ccx-broker');
export const ADMIN_BIN = path.join(REPO, 'bin', 'ccx-admin');
export const CHROMIUM = process.env.CCX_CHROMIUM || '/usr/bin/chromium';
export const SHOTS = path.join(REPO, 'build', 'screenshots');

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 360, height: 740 };
export const PASSWORD = 'Maple-Orbit-Cactus-91';
export const GRANT_TYPE = 'urn:ccx:params:oauth:grant-type:grant';
export const DAY = 86400;

// The launch arguments: headless, no sandbox (containers), and nothing that
// phones home or updates itself while the tests run.  chromium.launch()
// adds a fresh --user-data-dir in a temporary directory of its own and
// removes it when the browser closes.
export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--disable-default-apps',
  '--disable-extensions',
  '--ignore-certificate-errors',
];

const LISTEN_RE = /ccx-broker: listening on https:\/\/[^ ]*:(\d+)\/ \(issuer ([^)\s]+)\)/;

export const nowSeconds = () => Math.floor(Date.now() / 1000);
export const sleep = (ms) => new Promise((r) => { setTimeout(r, ms); });
export const b64url = (buf) => Buffer.from(buf).toString('base64url');

// A login nobody has used yet in this deployment.
export function uniqueLogin(prefix) {
  return `${prefix}.${randomBytes(4).toString('hex')}`;
}

// RFC 7636: a verifier of unreserved characters and its S256 challenge.
export function pkcePair() {
  const verifier = b64url(randomBytes(48)); // 64 characters
  const challenge = b64url(createHash('sha256').update(verifier, 'ascii').digest());
  return { verifier, challenge };
}

// Polls fn until it returns something truthy (or throws the last error).
export async function eventually(fn, { timeout = 5000, interval = 50, what = 'condition' } = {}) {
  const deadline = Date.now() + timeout;
  let last;
  for (;;) {
    try {
      const v = await fn();
      if (v) return v;
    } catch (e) {
      last = e;
    }
    if (Date.now() > deadline) {
      throw last || new Error(`timed out after ${timeout} ms waiting for ${what}`);
    }
    await sleep(interval);
  }
}

// ---- the company stand-in ------------------------------------------------

// A plain-HTTP server on a loopback port that receives the redirect back
// from the consent screen, as a company's site or native app would.
async function startStandIn() {
  const hits = [];
  const waiters = [];
  const server = http.createServer((req, res) => {
    const url = new URL(req.url, `http://${req.headers.host}`);
    if (url.pathname === '/cb') {
      const hit = { url: `http://${req.headers.host}${req.url}`, params: Object.fromEntries(url.searchParams) };
      hits.push(hit);
      for (const w of waiters.splice(0)) w(hit);
      res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-store' });
      res.end('<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Acme Outdoor</title>'
        + '<link rel="icon" href="data:,"></head><body><h1 id="acme">Acme Outdoor</h1>'
        + `<p id="result">${hit.params.error ? 'Not connected' : 'Connected'}</p></body></html>`);
      return;
    }
    res.writeHead(404, { 'Content-Type': 'text/plain' });
    res.end('not found');
  });
  await new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address();
  return {
    port,
    redirectUri: `http://127.0.0.1:${port}/cb`,
    hits,
    // The next redirect that arrives (or one that already did, by state).
    next(state) {
      const done = hits.find((h) => h.params.state === state);
      if (done) return Promise.resolve(done);
      return new Promise((resolve) => {
        const w = (h) => (h.params.state === state ? resolve(h) : waiters.push(w));
        waiters.push(w);
      });
    },
    close: () => new Promise((resolve) => { server.closeAllConnections?.(); server.close(() => resolve()); }),
  };
}

// ---- the broker ----------------------------------------------------------

function admin(data, ...args) {
  return execFileSync(ADMIN_BIN, ['--data', data, ...args], {
    encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], timeout: 30000,
  });
}

async function startBroker(root) {
  const data = path.join(root, 'data');
  admin(data, 'init');
  const stderrPath = path.join(root, 'broker.stderr');
  const errFd = fs.openSync(stderrPath, 'w');
  const proc = spawn(BROKER_BIN, [
    '--data', data, '--listen', '127.0.0.1:0',
    '--kdf-memory', '64', '--kdf-time', '1',
    '--access-log', path.join(data, 'access.log'),
    '--audit-flush-ms', '50', '--audit-fold-ms', '1000',
  ], { stdio: ['ignore', 'ignore', errFd], detached: true });
  fs.closeSync(errFd);
  let exited = null;
  proc.on('exit', (code, signal) => { exited = { code, signal }; });
  const stderr = () => fs.readFileSync(stderrPath, 'utf8');
  const deadline = Date.now() + 10000;
  for (;;) {
    const m = LISTEN_RE.exec(stderr());
    if (m) return { proc, data, port: Number(m[1]), issuer: m[2], stderr, exited: () => exited };
    if (exited) throw new Error(`ccx-broker exited (${JSON.stringify(exited)}) before listening:\n${stderr()}`);
    if (Date.now() > deadline) {
      proc.kill('SIGKILL');
      throw new Error(`ccx-broker did not report its port within 10 s:\n${stderr()}`);
    }
    await sleep(20);
  }
}

async function stopProcess(proc) {
  if (proc.exitCode !== null || proc.signalCode !== null) return;
  const gone = new Promise((resolve) => proc.once('exit', resolve));
  try { proc.kill('SIGTERM'); } catch { return; }
  const t = setTimeout(() => { try { proc.kill('SIGKILL'); } catch { /* gone */ } }, 5000);
  await gone;
  clearTimeout(t);
}

// ---- HTTPS to the broker, as a company's back end or a script ------------

function brokerRequest(world, method, urlPath, { headers = {}, body = null } = {}) {
  return new Promise((resolve, reject) => {
    const req = https.request({
      host: '127.0.0.1',
      port: world.port,
      servername: 'localhost',
      ca: world.ca,
      method,
      path: urlPath,
      headers: { Host: `localhost:${world.port}`, Accept: 'application/json', ...headers },
      timeout: 10000,
    }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('end', () => {
        const text = Buffer.concat(chunks).toString('utf8');
        let json = null;
        try { json = text ? JSON.parse(text) : null; } catch { json = null; }
        resolve({ status: res.statusCode, headers: res.headers, text, json });
      });
    });
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: timed out`)));
    req.on('error', reject);
    if (body !== null) req.write(body);
    req.end();
  });
}

// ---- the world -------------------------------------------------------------

const liveWorlds = new Set();

function emergencyCleanup() {
  for (const w of liveWorlds) {
    try { w.broker?.proc.kill('SIGKILL'); } catch { /* gone */ }
    try { fs.rmSync(w.root, { recursive: true, force: true }); } catch { /* best effort */ }
  }
  liveWorlds.clear();
}
process.once('exit', emergencyCleanup);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
  process.once(sig, () => { emergencyCleanup(); process.exit(128 + (sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1)); });
}

export async function startWorld() {
  for (const bin of [BROKER_BIN, ADMIN_BIN]) {
    if (!fs.existsSync(bin)) throw new Error(`missing ${bin}: run \`make all\` first`);
  }
  const world = {
    root: fs.mkdtempSync(path.join(os.tmpdir(), 'ccx-browser-')),
    broker: null,
    standIn: null,
    browser: null,
  };
  liveWorlds.add(world);
  try {
    world.standIn = await startStandIn();
    world.broker = await startBroker(world.root);
    const data = world.broker.data;
    const acme = JSON.parse(admin(data, 'company', 'add', 'acme', '--name', 'Acme Outdoor',
      '--description', 'Tents, boots and rain gear for every season.',
      '--site', 'https://acme.example', '--redirect-uri', world.standIn.redirectUri));
    assert.equal(acme.client_id, 'acme');
    assert.ok(acme.client_secret, 'company add prints the client secret');
    JSON.parse(admin(data, 'company', 'add', 'northwind', '--name', 'Northwind Foods',
      '--description', 'Groceries delivered to your door.', '--site', 'https://northwind.example'));
    world.acme = { id: acme.client_id, secret: acme.client_secret };
    world.port = world.broker.port;
    world.issuer = world.broker.issuer;
    world.origin = `https://localhost:${world.port}`;
    world.ca = fs.readFileSync(path.join(data, 'certs', 'ca.pem'));
    world.browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: CHROMIUM_ARGS,
      timeout: 30000,
    });
  } catch (e) {
    await closeWorld(world);
    throw e;
  }
  world.request = (method, urlPath, opts) => brokerRequest(world, method, urlPath, opts);
  world.close = () => closeWorld(world);
  return world;
}

async function closeWorld(world) {
  try { await world.browser?.close(); } catch { /* already gone */ }
  if (world.broker) await stopProcess(world.broker.proc);
  try { await world.standIn?.close(); } catch { /* closed */ }
  fs.rmSync(world.root, { recursive: true, force: true });
  liveWorlds.delete(world);
}

// ---- API helpers (customer scripts and the company's back end) ------------

const JSON_HEADERS = { 'Content-Type': 'application/json' };

// Registers a customer and, when given, stores a profile (bearer session).
export async function createCustomer(world, login, profile = null) {
  let r = await world.request('POST', '/v1/customers', {
    headers: JSON_HEADERS, body: JSON.stringify({ login, password: PASSWORD }),
  });
  assert.equal(r.status, 201, `sign-up: ${r.status} ${r.text}`);
  if (profile === null) return;
  r = await world.request('POST', '/v1/sessions', {
    headers: JSON_HEADERS, body: JSON.stringify({ login, password: PASSWORD }),
  });
  assert.equal(r.status, 201, `log-in: ${r.status} ${r.text}`);
  const auth = { Authorization: `Bearer ${r.json.session}` };
  r = await world.request('GET', '/v1/me/profile', { headers: auth });
  assert.equal(r.status, 200, r.text);
  r = await world.request('PUT', '/v1/me/profile', {
    headers: { ...auth, ...JSON_HEADERS, 'If-Match': r.headers.etag }, body: JSON.stringify(profile),
  });
  assert.equal(r.status, 200, `profile: ${r.status} ${r.text}`);
}

function basic(id, secret) {
  const enc = (s) => encodeURIComponent(s).replace(/%20/g, '+');
  return `Basic ${Buffer.from(`${enc(id)}:${enc(secret)}`).toString('base64')}`;
}

// POST to a token-family endpoint as Acme (client_secret_basic).
export function companyPost(world, urlPath, params) {
  return world.request('POST', urlPath, {
    headers: {
      Authorization: basic(world.acme.id, world.acme.secret),
      'Content-Type': 'application/x-www-form-urlencoded',
    },
    body: new URLSearchParams(params).toString(),
  });
}

export function companyGet(world, urlPath, token = null) {
  return world.request('GET', urlPath, {
    headers: { Authorization: token ? `Bearer ${token}` : basic(world.acme.id, world.acme.secret) },
  });
}

// ---- the browser -----------------------------------------------------------

// A fresh browser context (its own cookies and storage) and one page in
// it, with every console message, page error and CSP violation recorded.
export async function openPage(world, { viewport = DESKTOP } = {}) {
  const context = await world.browser.newContext({
    viewport,
    ignoreHTTPSErrors: true,
    locale: 'en-GB',
    timezoneId: 'UTC',
    serviceWorkers: 'block',
  });
  context.setDefaultTimeout(7000);
  const log = { console: [], pageErrors: [], csp: [], failed: [] };
  await context.exposeBinding('__ccxReportCsp', ({ page }, v) => {
    log.csp.push({ page: page.url(), ...v });
  });
  // securitypolicyviolation fires for every blocked script, style, image,
  // connection, form action or frame, including ones reported nowhere else.
  await context.addInitScript(() => {
    document.addEventListener('securitypolicyviolation', (e) => {
      window.__ccxReportCsp?.({
        directive: e.effectiveDirective || e.violatedDirective, blocked: e.blockedURI, source: e.sourceFile, line: e.lineNumber,
      });
    });
  });
  const watch = (page) => {
    page.on('console', (msg) => {
      log.console.push({ type: msg.type(), text: msg.text(), url: msg.location()?.url || '', page: page.url() });
    });
    page.on('pageerror', (err) => log.pageErrors.push({ page: page.url(), message: String(err?.stack || err) }));
    page.on('requestfailed', (req) => log.failed.push({ url: req.url(), error: req.failure()?.errorText }));
  };
  context.on('page', watch);
  const page = await context.newPage();
  return { context, page, log };
}

// Console errors other than the one the page causes on purpose: at load it
// asks GET /v1/sessions/current, which answers 401 when nobody is signed in.
// `allow` lists further failed requests a test causes on purpose, as
// {path, status} (e.g. a wrong password: POST /v1/sessions, 401).
export function unexpectedConsole(log, origin, allow = []) {
  const expected = [{ path: '/v1/sessions/current', status: 401 }, ...allow];
  return log.console.filter((m) => {
    if (m.type !== 'error' && m.type !== 'assert') {
      return /Content.Security.Policy/i.test(m.text);
    }
    return !expected.some((x) => m.url === `${origin}${x.path}`
      && new RegExp(`status of ${x.status}\\b`).test(m.text));
  });
}

// Asserts that nothing went wrong in the browser during a test.
export function assertCleanConsole(log, origin, { allow = [] } = {}) {
  assert.deepEqual(unexpectedConsole(log, origin, allow), [], 'unexpected console errors');
  assert.deepEqual(log.pageErrors, [], 'uncaught errors in the page');
  assert.deepEqual(log.csp, [], 'Content-Security-Policy violations');
}

// A full-page screenshot at the current size and, with `phone`, one at the
// phone width too (the viewport is restored afterwards).
export async function screenshot(page, name, { phone = true } = {}) {
  fs.mkdirSync(SHOTS, { recursive: true });
  const size = page.viewportSize();
  await page.screenshot({ path: path.join(SHOTS, `${name}-desktop.png`), fullPage: true });
  if (phone) {
    await page.setViewportSize(PHONE);
    await sleep(100); // let layout settle
    await page.screenshot({ path: path.join(SHOTS, `${name}-phone.png`), fullPage: true });
    await page.setViewportSize(size);
  }
}

// The data-testid locator.
export const tid = (page, id) => page.locator(`[data-testid="${id}"]`);

// ---- waiting assertions ------------------------------------------------------

// A small web-first `expect` for locators (playwright-core has none): each
// check is retried until it holds or `timeout` ms pass, and the failure
// says what was last seen.
const norm = (s) => String(s ?? '').replace(/\s+/g, ' ').trim();

export function expect(locator, { timeout = 5000 } = {}) {
  const probe = { timeout: 250 };
  const check = async (what, observe, ok) => {
    const deadline = Date.now() + timeout;
    let seen;
    for (;;) {
      try {
        seen = await observe();
        if (ok(seen)) return;
      } catch (e) {
        seen = `(${String(e.message || e).split('\n')[0]})`;
      }
      if (Date.now() > deadline) {
        throw new assert.AssertionError({
          message: `${locator}: expected ${what}; last seen ${JSON.stringify(seen)} (after ${timeout} ms)`,
        });
      }
      await sleep(50);
    }
  };
  const text = async () => ((await locator.count()) === 1
    ? norm(await locator.textContent(probe)) : `(${await locator.count()} elements)`);
  const matches = (want) => (got) => (want instanceof RegExp ? want.test(got) : got === norm(want));
  return {
    toBeVisible: () => check('visible', () => locator.isVisible(), (v) => v === true),
    toBeHidden: () => check('hidden', async () => {
      const n = await locator.count();
      for (let i = 0; i < n; i++) if (await locator.nth(i).isVisible()) return 'visible';
      return 'hidden';
    }, (v) => v === 'hidden'),
    toHaveText: (want) => (Array.isArray(want)
      ? check(`texts ${JSON.stringify(want)}`, async () => (await locator.allTextContents()).map(norm),
        (got) => got.length === want.length && got.every((g, i) => matches(want[i])(g)))
      : check(`text ${want}`, text, matches(want))),
    toContainText: (want) => check(`text containing ${JSON.stringify(want)}`, text, (got) => got.includes(norm(want))),
    toHaveValue: (want) => check(`value ${JSON.stringify(want)}`, () => locator.inputValue(probe), (v) => v === want),
    toHaveAttribute: (name, want) => check(`${name}="${want}"`, () => locator.getAttribute(name, probe),
      (v) => (want instanceof RegExp ? want.test(v ?? '') : v === want)),
    toBeChecked: () => check('checked', () => locator.isChecked(probe), (v) => v === true),
    toBeFocused: () => check('focused', () => locator.evaluate((el) => el === document.activeElement, undefined, probe),
      (v) => v === true),
    toHaveCount: (n) => check(`${n} elements`, () => locator.count(), (v) => v === n),
  };
}

// Checks whose failure must fail the test but should not stop it, so that
// one wrong detail does not hide the rest of the journey: run them with
// soft.check(fn) and call soft.verify() at the end.
export function softChecks() {
  const failures = [];
  return {
    async check(label, fn) {
      try {
        await fn();
      } catch (e) {
        failures.push(`${label}: ${String(e.message || e).split('\n')[0]}`);
      }
    },
    verify() {
      if (failures.length) {
        throw new Error(`${failures.length} check(s) failed:\n${failures.map((f) => `  - ${f}`).join('\n')}`);
      }
    },
  };
}
