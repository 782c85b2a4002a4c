// (b) Subscriptions with the graphql-ws client (graphql-transport-ws over the `ws` package),
// authenticated only through connectionParams, as a browser or an organizer dashboard does.

import { createClient } from 'graphql-ws';
import WebSocket from 'ws';
import { arrangeEvent, gql, operation, reserve, unique, within } from '../lib/graphql.mjs';

const WAIT = 15_000;

export async function subscriptions({ url, check }) {
  const wsUrl = `${url.replace(/^http/, 'ws')}/graphql`;
  const arranged = await arrangeEvent(url, { priceCents: 1500, capacity: 20 });
  const { organizer, buyer, eventId, priceCents, capacity } = arranged;

  await check('graphql-ws: transactionReports without a token in connectionParams is refused', async () => {
    const client = connect(wsUrl, {});
    try {
      const inbox = subscribe(client, operation('transactionReports'), { eventId });
      const outcome = await within(WAIT, 'an error for an anonymous subscriber', inbox.next());
      if (!outcome.error) throw new Error(`expected an error, got ${JSON.stringify(outcome)}`);
      const code = outcome.error?.[0]?.extensions?.code;
      if (!['UNAUTHENTICATED', 'FORBIDDEN'].includes(code)) {
        throw new Error(`expected UNAUTHENTICATED or FORBIDDEN, got ${JSON.stringify(outcome.error)}`);
      }
    } finally {
      await client.dispose();
    }
  });

  const client = connect(wsUrl, { Authorization: `Bearer ${organizer.accessToken}` });
  try {
    const reports = subscribe(client, operation('transactionReports'), { eventId });
    const availability = subscribe(client, operation('eventAvailability'), { eventId });
    let reservation;

    await check('graphql-ws: eventAvailability sends the current seats, then live changes', async () => {
      const first = await within(WAIT, 'the first eventAvailability message', availability.next());
      expectAvailable(first, capacity);
      // The server handles a connection's messages in order: once this pong is back, the
      // transactionReports subscription sent before has been taken in too.
      await within(WAIT, 'a pong', client.ping());
      reservation = await reserve(url, arranged, 2);
      const update = await within(WAIT, 'an eventAvailability update', availability.next());
      expectAvailable(update, capacity - 2);
    });

    await check('graphql-ws: the organizer receives the live transactionReports report of a payment', async () => {
      if (!reservation) throw new Error('no reservation (the previous check failed)');
      const paid = await gql(
        url,
        operation('pay'),
        { reservationId: reservation.id, idempotencyKey: unique('pay'), method: 'WALLET' },
        buyer.accessToken,
      );
      const outcome = await within(WAIT, 'a transactionReports report', reports.next());
      if (outcome.error) throw new Error(JSON.stringify(outcome.error));
      const report = outcome.value?.data?.transactionReports;
      const t = report?.transaction;
      const expected = {
        transaction: paid.pay.transaction.id,
        kind: 'PAYMENT',
        status: 'SUCCEEDED',
        amountCents: 2 * priceCents,
        event: eventId,
        ticketsSold: 2,
        revenueCents: 2 * priceCents,
      };
      const actual = {
        transaction: t?.id,
        kind: t?.kind,
        status: t?.status,
        amountCents: t?.amountCents,
        event: report?.event?.id,
        ticketsSold: report?.summary?.ticketsSold,
        revenueCents: report?.summary?.revenueCents,
      };
      if (JSON.stringify(actual) !== JSON.stringify(expected) || typeof report.cursor !== 'string') {
        throw new Error(`expected ${JSON.stringify(expected)}, got ${JSON.stringify(report)}`);
      }
    });
  } finally {
    await client.dispose();
  }
}

function expectAvailable(outcome, available) {
  if (outcome.error) throw new Error(JSON.stringify(outcome.error));
  const data = outcome.value?.data?.eventAvailability;
  if (data?.available !== available) {
    throw new Error(`expected ${available} seats available, got ${JSON.stringify(outcome.value)}`);
  }
}

/** A graphql-ws client with a `ping()` that resolves on the server's pong. */
function connect(url, connectionParams) {
  let socket;
  const pongs = [];
  const client = createClient({
    url,
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    keepAlive: 0,
    on: {
      connected: (s) => (socket = s),
      pong: (received) => received && pongs.shift()?.(),
    },
  });
  client.ping = () =>
    new Promise((resolve, reject) => {
      if (!socket) return reject(new Error('not connected'));
      pongs.push(resolve);
      socket.send(JSON.stringify({ type: 'ping' }));
    });
  return client;
}

/** Subscribes; `next()` resolves with the next `{ value }`, `{ error }` or `{ done }`. */
function subscribe(client, query, variables) {
  const queue = [];
  const waiting = [];
  const push = (item) => (waiting.length ? waiting.shift()(item) : queue.push(item));
  client.subscribe(
    { query, variables },
    {
      next: (value) => push(value.errors ? { error: value.errors } : { value }),
      error: (error) => push({ error: Array.isArray(error) ? error : [{ message: String(error?.reason ?? error?.message ?? error) }] }),
      complete: () => push({ done: true }),
    },
  );
  return { next: () => (queue.length ? Promise.resolve(queue.shift()) : new Promise((r) => waiting.push(r))) };
}
