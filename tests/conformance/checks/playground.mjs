// (e) The playground in headless Chromium, as a newcomer uses it: /graphiql loads with no
// request to any other host, a pasted token authenticates a query, a subscription streams
// results, and screenshots show both.

import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { arrangeEvent, reserve, unique, within } from '../lib/graphql.mjs';

const CHROMIUM = process.env.CHROMIUM_PATH || '/usr/bin/chromium';
const ARGS = [
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--headless',
];
const WAIT = 30_000;

export async function playground({ url, check, out }) {
  const arranged = await arrangeEvent(url, { priceCents: 2500, capacity: 30 });
  const origin = new URL(url);
  const log = []; // every request the page made, in order
  const foreign = [];
  const problems = []; // page errors and console errors (CSP violations among them)

  const browser = await chromium.launch({ executablePath: CHROMIUM, args: ARGS, headless: true });
  try {
    const context = await browser.newContext({ viewport: { width: 1440, height: 900 } });
    // Every HTTP request of the page and its workers passes here; anything not for the server
    // is recorded and refused.
    await context.route('**/*', (route) => {
      const request = route.request();
      const target = new URL(request.url());
      log.push(`${request.method()} ${request.url()}`);
      if (target.host !== origin.host && target.protocol !== 'data:' && target.protocol !== 'blob:') {
        foreign.push(request.url());
        return route.abort();
      }
      return route.continue();
    });
    const page = await context.newPage();
    page.on('websocket', (ws) => {
      log.push(`WEBSOCKET ${ws.url()}`);
      if (new URL(ws.url()).host !== origin.host) foreign.push(ws.url());
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') problems.push(`console error: ${m.text()}`);
    });
    const result = page.locator('section[aria-label="Result Window"]');
    const resultText = async () =>
      ((await result.locator('.view-lines').innerText().catch(() => '')) || '').replace(/\u00a0/g, ' ');
    const waitForResult = async (what, predicate) => {
      const deadline = Date.now() + WAIT;
      let text = '';
      while (Date.now() < deadline) {
        text = await resultText();
        if (predicate(text)) return text;
        await page.waitForTimeout(100);
      }
      throw new Error(`the result window never showed ${what}; it shows:\n${text}`);
    };

    await check('playground: /graphiql loads GraphiQL, its schema and the saved examples', async () => {
      await page.goto(`${url}/graphiql`);
      await page.locator('.graphiql-container').waitFor({ timeout: WAIT });
      await page.locator('button[data-operation="register"]').waitFor({ timeout: WAIT });
      await page.locator('button[data-operation="eventAvailability"]').waitFor({ timeout: WAIT });
      // The introspection query went through the fetcher to /graphql.
      await within(WAIT, 'the introspection request', waitUntil(() => log.some((l) => l === `POST ${url}/graphql`)));
    });

    await check('playground: register from the Examples panel, then "Use token of" signs the page in', async () => {
      const username = unique('newcomer');
      await page.locator('button[data-operation="register"]').click();
      await replaceVariables(page, {
        input: { username, password: 'correct-horse-battery', role: 'USER' },
      });
      await page.locator('.graphiql-execute-button').click();
      await waitForResult('an accessToken', (t) => t.includes('"accessToken"') && t.includes(username));
      await page.locator('button.ev-offer', { hasText: username }).click();
      await page.locator('#ev-status', { hasText: `signed in as ${username}` }).waitFor({ timeout: WAIT });
    });

    await check('playground: a pasted token authenticates a query, and its result is shown', async () => {
      await page.locator('#ev-token').fill(arranged.organizer.accessToken);
      // The bar asks the server whose token it is.
      await page
        .locator('#ev-status', { hasText: `signed in as ${arranged.organizer.user.username}` })
        .waitFor({ timeout: WAIT });
      await page.locator('button[data-operation="me"]').click();
      await page.locator('.graphiql-execute-button').click();
      await waitForResult(`the organizer ${arranged.organizer.user.username}`, (t) =>
        t.includes(`"username": "${arranged.organizer.user.username}"`) && t.includes('"role": "ORGANIZER"'),
      );
      await page.screenshot({ path: join(out, 'playground.png') });
    });

    await check('playground: an Authorization header in the Headers pane works too (the walk-through way)', async () => {
      await page.locator('.ev-bar button', { hasText: 'Clear' }).click();
      await page.locator('#ev-status', { hasText: 'anonymous' }).waitFor({ timeout: WAIT });
      await page.locator('button[data-operation="me"]').click();
      await replaceHeaders(page, { Authorization: `Bearer ${arranged.buyer.accessToken}` });
      await page.locator('.graphiql-execute-button').click();
      await waitForResult(`the buyer ${arranged.buyer.user.username}`, (t) =>
        t.includes(`"username": "${arranged.buyer.user.username}"`),
      );
      await replaceHeaders(page, {});
    });

    await check('playground: a subscription streams eventAvailability results over the WebSocket', async () => {
      await page.locator('button[data-operation="eventAvailability"]').click();
      await replaceVariables(page, { eventId: arranged.eventId });
      await page.locator('.graphiql-execute-button').click();
      await waitForResult(`${arranged.capacity} seats available`, (t) =>
        t.includes(`"available": ${arranged.capacity}`),
      );
      await reserve(url, arranged, 3);
      await waitForResult(`${arranged.capacity - 3} seats available after a reservation`, (t) =>
        t.includes(`"available": ${arranged.capacity - 3}`),
      );
      await page.screenshot({ path: join(out, 'playground-subscription.png') });
      await page.locator('.graphiql-execute-button').click(); // stop
    });

    await check('playground: no request went to any host but the server, and no error was logged', async () => {
      await writeFile(join(out, 'playground-requests.log'), `${log.join('\n')}\n`);
      if (foreign.length) throw new Error(`requests to other hosts:\n${foreign.join('\n')}`);
      if (!log.some((l) => l.startsWith(`WEBSOCKET ws://${origin.host}/graphql`))) {
        throw new Error('the subscription did not open a WebSocket to the server');
      }
      if (problems.length) throw new Error(problems.join('\n'));
    });
  } finally {
    await browser.close();
  }
}

/** Replaces the whole Variables pane with `variables`, as a user pasting JSON would. */
async function replaceVariables(page, variables) {
  await page.locator('.graphiql-editor-tools button', { hasText: 'Variables' }).click();
  await replaceToolEditor(page, variables);
}

/** Replaces the whole Headers pane with `headers`. */
async function replaceHeaders(page, headers) {
  await page.locator('.graphiql-editor-tools button', { hasText: 'Headers' }).click();
  await replaceToolEditor(page, headers);
}

async function replaceToolEditor(page, json) {
  const editor = page.locator('.graphiql-editor-tool .monaco-editor').filter({ visible: true });
  await editor.click();
  await page.keyboard.press('ControlOrMeta+A');
  await page.keyboard.press('Delete');
  await page.keyboard.insertText(JSON.stringify(json));
  await page.keyboard.press('ControlOrMeta+Home');
}

function waitUntil(condition) {
  return new Promise((resolve) => {
    const poll = () => (condition() ? resolve() : setTimeout(poll, 50));
    poll();
  });
}
