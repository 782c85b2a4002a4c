// Small helpers shared by the checks: the saved playground operations and a GraphQL POST.

import { readFileSync, readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const repo = join(dirname(fileURLToPath(import.meta.url)), '..', '..', '..');

/** The text of playground/<name>.graphql. */
export function operation(name) {
  return readFileSync(join(repo, 'playground', `${name}.graphql`), 'utf8');
}

export function playgroundOperationFiles() {
  return readdirSync(join(repo, 'playground'))
    .filter((f) => f.endsWith('.graphql'))
    .sort();
}

/** POSTs one operation; throws on HTTP or GraphQL errors and returns `data`. */
export async function gql(url, query, variables = {}, token) {
  const response = await fetch(`${url}/graphql`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = await response.json();
  if (!response.ok || body.errors) {
    throw new Error(`HTTP ${response.status}: ${JSON.stringify(body.errors ?? body)}`);
  }
  return body.data;
}

export function unique(prefix) {
  return `${prefix}_${Date.now().toString(36)}${Math.random().toString(36).slice(2, 6)}`;
}

/** Rejects after `ms` with `what` in the message. */
export function within(ms, what, promise) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms: ${what}`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Registers an organizer and a buyer, creates and publishes an event with one ticket type and
 * tops up the buyer's wallet, all through the saved playground operations.
 */
export async function arrangeEvent(url, { priceCents = 1500, capacity = 50 } = {}) {
  const register = async (username, role) =>
    (
      await gql(url, operation('register'), {
        input: { username, password: 'correct-horse-battery', role },
      })
    ).register;
  const organizer = await register(unique('organizer'), 'ORGANIZER');
  const buyer = await register(unique('buyer'), 'USER');
  const startsAt = new Date(Date.now() + 30 * 24 * 3600 * 1000).toISOString();
  const created = (
    await gql(
      url,
      operation('createEvent'),
      {
        input: {
          title: unique('Conformance night'),
          venue: 'Loopback Hall',
          startsAt,
          ticketTypes: [{ name: 'General admission', priceCents, capacity }],
        },
      },
      organizer.accessToken,
    )
  ).createEvent;
  await gql(url, operation('publishEvent'), { id: created.id }, organizer.accessToken);
  await gql(
    url,
    operation('topUpWallet'),
    { amountCents: priceCents * 10, idempotencyKey: unique('topup') },
    buyer.accessToken,
  );
  return {
    organizer,
    buyer,
    eventId: created.id,
    ticketTypeId: created.ticketTypes[0].id,
    priceCents,
    capacity,
  };
}

/** Reserves `quantity` seats for the buyer; returns the reservation. */
export async function reserve(url, arranged, quantity) {
  return (
    await gql(
      url,
      operation('reserve'),
      { input: { ticketTypeId: arranged.ticketTypeId, quantity, idempotencyKey: unique('reserve') } },
      arranged.buyer.accessToken,
    )
  ).reserve;
}
