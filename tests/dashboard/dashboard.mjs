// The dashboard in headless Chromium, as an organizer and a buyer use it, against a real
// server that this script starts, and later restarts on the same database and port:
//
// - an organizer signs in at /dashboard, opens a seated event and sees its numbers, chart,
//   seat map and transaction feed; payments made through the API (HTTP, from this script)
//   change the counters, the chart and the feed within a second each;
// - the server is stopped and started again: the page says it is reconnecting, then resumes
//   the feed from its last cursor: payments made while it was away and after it came back
//   appear once each, none is repeated and none is missing;
// - a buyer signs in at /dashboard/tickets and sees their tickets with QR codes, downloads a
//   PDF and finds the calendar links;
// - screenshots at 1366x768 and 390x844; no request goes to any host but the server.
//
//   node dashboard.mjs --binary ../../target/debug/evenntify --out ../../target/dashboard-test

import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { chromium } from 'playwright-core';

const { values: args } = parseArgs({ options: { binary: { type: 'string' }, out: { type: 'string' } } });
const binary = resolve(args.binary ?? '../../target/debug/evenntify');
const out = resolve(args.out ?? '../../target/dashboard-test');
const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const SECOND = 1000; // what "within a second" means below
const WAIT = 30_000; // loading, signing in, reconnecting
const TOKEN_TTL_SECONDS = 10; // the shortest the server allows

let passed = 0;
let failed = 0;
async function check(name, fn) {
  const started = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok    ${name} (${Date.now() - started} ms)`);
  } catch (error) {
    failed++;
    console.log(`FAIL  ${name}\n      ${String(error?.stack ?? error).replace(/\n/g, '\n      ')}`);
    throw error; // later steps build on this one
  }
}

// ---- the server: a scratch SQLite database and a free port, both kept across the restart ----

const dir = await mkdtemp(join(tmpdir(), 'evenntify-dashboard-'));
const port = await freePort();
const url = `http://127.0.0.1:${port}`;
await mkdir(out, { recursive: true });
const serverLog = createWriteStream(join(out, 'server.log'));
let server = null;

async function startServer() {
  const child = spawn(binary, ['serve'], {
    env: {
      ...process.env,
      DATABASE_URL: `sqlite://${join(dir, 'evenntify.db')}?mode=rwc`,
      BIND_ADDR: `127.0.0.1:${port}`,
      REDIS_URL: '',
      MAIL_DIR: join(dir, 'mail'),
      PUBLIC_URL: url, // myCalendarUrl points here
      // Short-lived access tokens, so the page must refresh its session during the test; this
      // script signs in again as often (the per-address login limit is raised for it).
      ACCESS_TOKEN_TTL_SECONDS: String(TOKEN_TTL_SECONDS),
      LOGIN_ATTEMPTS_PER_IP_PER_MINUTE: '10000',
      RUST_LOG: process.env.RUST_LOG ?? 'info',
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout.pipe(serverLog, { end: false });
  child.stderr.pipe(serverLog, { end: false });
  let exited = null;
  child.on('exit', (code, signal) => (exited = { code, signal }));
  const deadline = Date.now() + 60_000;
  for (;;) {
    if (exited) throw new Error(`the server exited (${JSON.stringify(exited)}); see ${out}/server.log`);
    try {
      if ((await fetch(`${url}/healthz`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('the server did not answer /healthz');
    await sleep(100);
  }
  server = {
    async stop() {
      if (exited) return;
      const gone = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      await gone;
      clearTimeout(timer);
    },
  };
}

// ---- the API, as any client uses it ----

async function gql(query, variables = {}, token) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data;
}

const unique = (prefix) => `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
const PASSWORD = 'correct-horse-battery';

async function register(role) {
  const username = unique(role.toLowerCase());
  const data = await gql(
    `mutation($input: RegisterInput!) { register(input: $input) { accessToken user { id username } } }`,
    { input: { username, password: PASSWORD, role } },
  );
  return { username, token: data.register.accessToken, at: Date.now(), id: data.register.user.id };
}

/** A fresh access token for `user`: the script's own tokens expire as fast as the page's. */
async function tokenOf(user) {
  if (Date.now() - user.at > (TOKEN_TTL_SECONDS * 1000) / 2) {
    user.token = await login(user.username);
    user.at = Date.now();
  }
  return user.token;
}

async function login(username) {
  const data = await gql(`mutation($u: String!, $p: String!) { login(username: $u, password: $p) { accessToken } }`, {
    u: username,
    p: PASSWORD,
  });
  return data.login.accessToken;
}

/** A seated event: two sections of 4 rows × 10 seats, one ticket type each. */
async function arrange() {
  const organizer = await register('ORGANIZER');
  const buyer = await register('USER');
  const venue = await gql(
    `mutation($input: CreateVenueInput!) { createVenue(input: $input) { id } }`,
    {
      input: {
        name: unique('Loopback Hall'),
        sections: ['Stalls', 'Balcony'].map((name) => ({
          name,
          rows: ['A', 'B', 'C', 'D'].map((label) => ({ label, seats: 10 })),
        })),
      },
    },
    await tokenOf(organizer),
  );
  const created = await gql(
    `mutation($input: CreateEventInput!) { createEvent(input: $input) { id title ticketTypes { id name priceCents } } }`,
    {
      input: {
        title: unique('Dashboard night'),
        venueId: venue.createVenue.id,
        startsAt: new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString(),
        ticketTypes: [
          { name: 'Stalls', priceCents: 2500, sections: ['Stalls'] },
          { name: 'Balcony', priceCents: 1250, sections: ['Balcony'] },
        ],
      },
    },
    await tokenOf(organizer),
  );
  const event = created.createEvent;
  await gql(`mutation($id: ID!) { publishEvent(id: $id) { id } }`, { id: event.id }, await tokenOf(organizer));
  await gql(
    `mutation($a: Cents!, $k: String!) { topUpWallet(amountCents: $a, idempotencyKey: $k, cardToken: "tok_visa") { balanceCents } }`,
    { a: 500_000, k: unique('topup') },
    await tokenOf(buyer),
  );
  return { organizer, buyer, event, stalls: event.ticketTypes[0], balcony: event.ticketTypes[1] };
}

async function reserve(buyer, ticketType, quantity) {
  const data = await gql(
    `mutation($input: ReserveInput!) { reserve(input: $input) { id amountCents } }`,
    { input: { ticketTypeId: ticketType.id, quantity, bestAvailable: true, idempotencyKey: unique('reserve') } },
    await tokenOf(buyer),
  );
  return data.reserve;
}

async function pay(buyer, reservation, cardToken) {
  const data = await gql(
    `mutation($input: PayInput!) { pay(input: $input) { transaction { id status amountCents } } }`,
    {
      input: {
        reservationId: reservation.id,
        idempotencyKey: unique('pay'),
        ...(cardToken ? { method: 'CARD', cardToken } : {}),
      },
    },
    await tokenOf(buyer),
  );
  return data.pay.transaction;
}

/** Reserves and pays; returns the payment's transaction id. */
async function buy(buyer, ticketType, quantity) {
  return (await pay(buyer, await reserve(buyer, ticketType, quantity))).id;
}

// ---- the page ----

const origin = new URL(url);
const requests = [];
const foreign = [];
const problems = [];
let restarting = false;
const reportSubscriptions = []; // the variables of every transactionReports the page sent

async function watch(context, page) {
  await context.route('**/*', (route) => {
    const request = route.request();
    const target = new URL(request.url());
    requests.push(`${request.method()} ${request.url()}`);
    if (target.host !== origin.host && target.protocol !== 'data:' && target.protocol !== 'blob:') {
      foreign.push(request.url());
      return route.abort();
    }
    return route.continue();
  });
  page.on('websocket', (ws) => {
    requests.push(`WEBSOCKET ${ws.url()}`);
    if (new URL(ws.url()).host !== origin.host) foreign.push(ws.url());
    ws.on('framesent', ({ payload }) => {
      try {
        const message = JSON.parse(String(payload));
        if (message.type === 'subscribe' && message.payload.query.includes('transactionReports')) {
          reportSubscriptions.push(message.payload.variables);
        }
      } catch {
        // not JSON: not ours to check
      }
    });
  });
  page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
  page.on('console', (m) => {
    // While the server is down (and the browser offline), Chromium logs each refused connection.
    if (m.type() === 'error' && !(restarting && /WebSocket|ERR_CONNECTION_REFUSED|ERR_INTERNET_DISCONNECTED/.test(m.text()))) {
      problems.push(`console error: ${m.text()}`);
    }
  });
}

/** Waits until `read()` satisfies `ok`, for at most `ms`; returns how long it took. */
async function until(what, ms, read, ok) {
  const started = Date.now();
  let last;
  while (Date.now() - started <= ms) {
    last = await read();
    if (ok(last)) return Date.now() - started;
    await sleep(25);
  }
  throw new Error(`${what}: not within ${ms} ms (last seen: ${JSON.stringify(last)})`);
}

const attr = (page, selector, name) => page.locator(selector).first().getAttribute(name, { timeout: WAIT });
const number = async (page, selector) => Number(await attr(page, selector, 'data-value'));
const feedIds = (page) =>
  page.locator('#feed li[data-transaction-id]').evaluateAll((rows) => rows.map((r) => r.dataset.transactionId));

async function shots(page, name) {
  for (const [label, viewport] of [
    ['laptop', { width: 1366, height: 768 }],
    ['phone', { width: 390, height: 844 }],
  ]) {
    await page.setViewportSize(viewport);
    await sleep(300); // the chart follows its box's size
    await page.screenshot({ path: join(out, `${name}-${label}.png`), fullPage: label === 'laptop' ? false : true });
  }
  await page.setViewportSize({ width: 1366, height: 768 });
}

let browser;
try {
  await startServer();
  console.log(`dashboard test: server at ${url}, output in ${out}`);
  const arranged = await arrange();
  const { organizer, buyer, event, stalls, balcony } = arranged;
  const paid = []; // every payment's transaction id, in order

  // History before the page opens: the page must show it (replayed from the first report).
  paid.push(await buy(buyer, stalls, 2));
  paid.push(await buy(buyer, balcony, 1));

  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
  const context = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
  const page = await context.newPage();
  await watch(context, page);

  await check('dashboard: an organizer signs in and sees their events', async () => {
    await page.goto(`${url}/dashboard`);
    await page.locator('#username').fill(organizer.username);
    await page.locator('#password').fill(PASSWORD);
    await page.locator('#sign-in').click();
    await page.locator(`#events a[data-event-id="${event.id}"]`).waitFor({ timeout: WAIT });
    await page.locator('#who', { hasText: organizer.username }).waitFor({ timeout: WAIT });
  });

  await check('dashboard: the event opens live with its numbers, history, chart, gauges and seat map', async () => {
    await page.locator(`#events a[data-event-id="${event.id}"]`).click();
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: WAIT });
    await until('3 sold', WAIT, () => number(page, '#sold'), (v) => v === 3);
    await until('revenue 2×25.00 + 12.50', WAIT, () => number(page, '#revenue'), (v) => v === 6250);
    await until('the two earlier payments in the feed', WAIT, () => feedIds(page), (ids) => ids.length === 2);
    await until('the chart with the history', WAIT, () => attr(page, '#sales-chart', 'data-sold'), (v) => v === '3');
    // The history came from analytics (hourly buckets), not only from the replayed reports.
    const source = await page.locator('#chart-source').innerText();
    if (!source.includes('analytics')) throw new Error(`the chart is ${source}`);
    const revenueText = await page.locator('#revenue').innerText();
    if (revenueText !== '$62.50') throw new Error(`revenue shows ${revenueText}, not $62.50 (the platform currency is USD)`);
    await until('3 sold seats on the seat map', WAIT, () => attr(page, '#seat-legend [data-status="SOLD"]', 'data-count'), (v) => v === '3');
    const taken = await attr(page, `#gauges li[data-ticket-type="${stalls.id}"]`, 'data-taken');
    if (taken !== '2') throw new Error(`the Stalls gauge shows ${taken} taken, not 2`);
  });

  await check('dashboard: a reservation shows as held, a payment as sold, revenue, chart point and feed row, each within a second', async () => {
    const reservation = await reserve(buyer, stalls, 2);
    const held = await until('2 held', SECOND, () => number(page, '#held'), (v) => v === 2);
    const points = Number(await attr(page, '#sales-chart', 'data-points'));
    const transaction = await pay(buyer, reservation);
    paid.push(transaction.id);
    const started = Date.now();
    const seen = await Promise.all([
      until('5 sold', SECOND, () => number(page, '#sold'), (v) => v === 5),
      until('revenue $112.50', SECOND, () => page.locator('#revenue').innerText(), (v) => v === '$112.50'),
      until('the chart at 5 sold', SECOND, async () => [await attr(page, '#sales-chart', 'data-sold'), Number(await attr(page, '#sales-chart', 'data-points'))], ([sold, n]) => sold === '5' && n >= points),
      until('the payment at the top of the feed', SECOND, () => feedIds(page), (ids) => ids[0] === transaction.id),
      until('the Stalls gauge at 4 taken', SECOND, () => attr(page, `#gauges li[data-ticket-type="${stalls.id}"]`, 'data-taken'), (v) => v === '4'),
      until('5 sold seats on the seat map', SECOND, () => attr(page, '#seat-legend [data-status="SOLD"]', 'data-count'), (v) => v === '5'),
    ]);
    console.log(`      held after ${held} ms; after the payment: counters, chart, feed, gauge, seat map in ${seen.join(', ')} ms (${Date.now() - started} ms in all)`);
  });

  await check('dashboard: a declined card shows in the feed and the failed-payments counter', async () => {
    const reservation = await reserve(buyer, balcony, 1);
    const failedPay = await pay(buyer, reservation, 'tok_chargeDeclined').catch((e) => e);
    // A decline is an error of `pay`, recorded as a FAILED transaction in the reports.
    await until('1 failed payment', SECOND, () => number(page, '#failed'), (v) => v === 1);
    await until('a failed row in the feed', SECOND, () => page.locator('#feed li.failed').count(), (n) => n === 1);
    void failedPay;
  });

  await shots(page, 'dashboard');

  await check('dashboard: after a server restart the feed resumes from its cursor, with no gap and no duplicate', async () => {
    const before = await feedIds(page);
    const cursorBefore = await attr(page, '#feed li[data-cursor]', 'data-cursor');
    const subscribedBefore = reportSubscriptions.length;
    restarting = true;
    await server.stop();
    await page.locator('#connection[data-state="reconnecting"]').waitFor({ timeout: WAIT });
    await page.screenshot({ path: join(out, 'dashboard-reconnecting-laptop.png') });
    // The browser stays offline until two payments are made on the restarted server: the page
    // can only get them from the replay after its cursor.
    await context.setOffline(true);
    await startServer();
    const whileAway = [await buy(buyer, stalls, 1), await buy(buyer, balcony, 2)];
    paid.push(...whileAway);
    const state = await attr(page, '#connection', 'data-state');
    if (state !== 'reconnecting') throw new Error(`the page is ${state} while offline`);
    await context.setOffline(false);
    await page.locator('#connection[data-state="connected"]').waitFor({ timeout: WAIT });
    restarting = false;
    const afterBack = [await buy(buyer, stalls, 1), await buy(buyer, balcony, 1)];
    paid.push(...afterBack);
    await until('every payment after the restart in the feed', 5 * SECOND, () => feedIds(page), (ids) => afterBack.concat(whileAway).every((id) => ids.includes(id)));
    await sleep(500); // a duplicate would arrive now
    const ids = await feedIds(page);
    const dupes = ids.filter((id, i) => ids.indexOf(id) !== i);
    if (dupes.length) throw new Error(`shown twice: ${dupes.join(', ')}`);
    const missing = paid.filter((id) => !ids.includes(id));
    if (missing.length) throw new Error(`missing from the feed: ${missing.join(', ')}`);
    // The payments and the one failed payment: every report exactly once, newest first.
    if (ids.length !== paid.length + 1) throw new Error(`${ids.length} rows for ${paid.length + 1} transactions`);
    if (ids[0] !== afterBack[1]) throw new Error('the newest payment is not at the top of the feed');
    if (!before.every((id) => ids.includes(id))) throw new Error('rows from before the restart disappeared');
    const cursors = await page.locator('#feed li[data-cursor]').evaluateAll((rows) => rows.map((r) => r.dataset.cursor));
    if (new Set(cursors).size !== cursors.length || !cursors.includes(cursorBefore)) throw new Error('cursors repeat or changed');
    // The page asked for what followed its last report, not for everything again.
    const resubscribed = reportSubscriptions.slice(subscribedBefore);
    if (!resubscribed.length) throw new Error('the page did not subscribe to transactionReports again');
    const wrong = resubscribed.filter((v) => v.after !== cursorBefore || v.eventId !== event.id);
    if (wrong.length) throw new Error(`resubscribed with ${JSON.stringify(wrong)}, not after ${cursorBefore}`);
    await until('sold counter after the restart', SECOND, () => number(page, '#sold'), (v) => v === 10);
    const report = await gql(`query($id: ID!) { eventReport(eventId: $id) { ticketsSold revenueCents } }`, { id: event.id }, await tokenOf(organizer));
    const revenue = await number(page, '#revenue');
    if (revenue !== report.eventReport.revenueCents) throw new Error(`revenue ${revenue} ≠ eventReport ${report.eventReport.revenueCents}`);
    await page.screenshot({ path: join(out, 'dashboard-after-restart-laptop.png') });
  });

  await check('dashboard: the page refreshes its session before the access token expires and stays live', async () => {
    const readSession = () => page.evaluate(() => JSON.parse(sessionStorage.getItem('evenntify.dashboard.session') ?? 'null'));
    const first = await readSession();
    if (!first?.accessToken) throw new Error('no session in sessionStorage');
    // Past the expiry of the token the page holds now: it must have traded it in time.
    await sleep(Math.max(0, Date.parse(first.expiresAt) - Date.now()) + 1000);
    const later = await readSession();
    if (!later || later.accessToken === first.accessToken || later.refreshToken === first.refreshToken) {
      throw new Error('the session was not refreshed');
    }
    if (Date.parse(later.expiresAt) <= Date.now()) throw new Error(`the page holds an expired token (${later.expiresAt})`);
    if (await page.locator('#sign-in').count()) throw new Error('the page fell back to the sign-in form');
    // Still live on the refreshed token: a hold and a payment show up within a second.
    const reservation = await reserve(buyer, stalls, 1);
    await until('1 more held', SECOND, () => number(page, '#held'), (v) => v === 2);
    const transaction = await pay(buyer, reservation);
    paid.push(transaction.id);
    await until('11 sold', SECOND, () => number(page, '#sold'), (v) => v === 11);
    await until('the payment in the feed', SECOND, () => feedIds(page), (ids) => ids[0] === transaction.id);
  });

  await check('tickets: a buyer sees their tickets with QR codes, a PDF download and calendar links', async () => {
    const buyerContext = await browser.newContext({ viewport: { width: 1366, height: 768 }, acceptDownloads: true });
    const buyerPage = await buyerContext.newPage();
    await watch(buyerContext, buyerPage);
    await buyerPage.goto(`${url}/dashboard/tickets`);
    await buyerPage.locator('#username').fill(buyer.username);
    await buyerPage.locator('#password').fill(PASSWORD);
    await buyerPage.locator('#sign-in').click();
    await buyerPage.locator('#tickets li[data-ticket-id]').first().waitFor({ timeout: WAIT });
    const count = await buyerPage.locator('#tickets li[data-ticket-id]').count();
    if (count !== 11) throw new Error(`${count} tickets shown, the buyer holds 11`);
    const qrLoaded = await buyerPage.locator('#tickets img.qr').first().evaluate((img) => img.complete && img.naturalWidth > 0);
    if (!qrLoaded) throw new Error('the QR code did not render');
    const ics = await buyerPage.locator('#tickets a', { hasText: 'Add to calendar' }).first().getAttribute('href');
    if (ics !== `/events/${event.id}.ics`) throw new Error(`calendar link ${ics}`);
    const feedUrl = await buyerPage.locator('#calendar-feed').getAttribute('href');
    if (!(await fetch(new URL(feedUrl, url))).ok) throw new Error('the calendar feed link does not work');
    const [download] = await Promise.all([
      buyerPage.waitForEvent('download', { timeout: WAIT }),
      buyerPage.locator('#tickets button.pdf').first().click(),
    ]);
    const pdf = await readFile(await download.path());
    if (pdf.subarray(0, 5).toString() !== '%PDF-') throw new Error('the download is not a PDF');
    await shots(buyerPage, 'tickets');
    await buyerContext.close();
  });

  await check('dashboard: no request went to any host but the server, and no error was logged', async () => {
    await writeFile(join(out, 'requests.log'), `${requests.join('\n')}\n`);
    if (foreign.length) throw new Error(`requests to other hosts:\n${foreign.join('\n')}`);
    if (!requests.some((l) => l.startsWith(`WEBSOCKET ws://${origin.host}/graphql`))) throw new Error('no WebSocket to the server');
    if (problems.length) throw new Error(problems.join('\n'));
  });
} catch (error) {
  if (!failed) {
    failed++;
    console.log(`FAIL  setup\n      ${String(error?.stack ?? error)}`);
  }
} finally {
  await browser?.close();
  await server?.stop();
  serverLog.end();
  await rm(dir, { recursive: true, force: true });
}

console.log(`\n${passed} passed, ${failed} failed; screenshots in ${out}`);
process.exit(failed === 0 && passed > 0 ? 0 : 1);

function sleep(ms) {
  return new Promise((r) => setTimeout(r, ms));
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.unref();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: p } = probe.address();
      probe.close(() => resolvePort(p));
    });
  });
}
