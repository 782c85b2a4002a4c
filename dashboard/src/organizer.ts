// The organizer's live dashboard at /dashboard: choose an event, then watch its numbers,
// occupancy per ticket type, seat map, sales chart, transactions and check-ins as they happen.

import type { Client } from 'graphql-ws';
import { ApiError, request, requestDated, socket, subscribe, type Connection } from './api';
import { SalesChart, type SalesPoint } from './chart';
import { clear, h, number, time, when } from './dom';
import { Feed, FIRST_CURSOR, type Report } from './feed';
import {
  DashboardAvailabilityDocument,
  DashboardCheckInsDocument,
  DashboardEventDocument,
  DashboardEventsDocument,
  DashboardReportDocument,
  DashboardReportsDocument,
  DashboardSalesHistoryDocument,
  DashboardSeatMapDocument,
  DashboardWaitlistDocument,
  type DashboardAvailabilitySubscription,
  type DashboardEventQuery,
  type DashboardEventsQuery,
  type DashboardWaitlistQuery,
  type SessionFragment,
  type SummaryFragment,
} from './generated/graphql';
import { money } from './money';
import { SeatMapView } from './seatmap';

type EventRow = DashboardEventsQuery['events']['edges'][number]['node'];
type LoadedEvent = NonNullable<DashboardEventQuery['event']>;

/** Shows the event list, or the event named in the URL's `#event=<id>`. */
export async function organizerView(root: HTMLElement, user: SessionFragment['user']): Promise<() => void> {
  if (user.role === 'USER') {
    clear(
      root,
      h(
        'section',
        { class: 'card' },
        h('h1', {}, 'Organizers only'),
        h('p', {}, `${user.username} is a buyer account. Your tickets are on `, h('a', { href: '/dashboard/tickets' }, 'My tickets'), '.'),
      ),
    );
    return () => {};
  }
  let stop: () => void = () => {};
  const show = async () => {
    stop();
    const id = new URLSearchParams(location.hash.slice(1)).get('event');
    stop = id ? liveEvent(root, id) : () => {};
    if (!id) await eventList(root, user);
  };
  window.addEventListener('hashchange', show);
  await show();
  return () => {
    window.removeEventListener('hashchange', show);
    stop();
  };
}

async function eventList(root: HTMLElement, user: SessionFragment['user']): Promise<void> {
  clear(root, h('section', { class: 'card' }, h('p', { class: 'loading' }, 'Loading your events…')));
  const events: EventRow[] = [];
  try {
    // Organizers see their own events (drafts included); admins see every event.
    const filter = user.role === 'ORGANIZER' ? { organizerId: user.id } : null;
    let after: string | null = null;
    for (let page = 0; page < 10; page++) {
      const data: DashboardEventsQuery = await request(DashboardEventsDocument, { filter, after });
      events.push(...data.events.edges.map((e) => e.node));
      if (!data.events.pageInfo.hasNextPage) break;
      after = data.events.pageInfo.endCursor ?? null;
    }
  } catch (error) {
    clear(root, errorCard('Your events could not be loaded', error));
    return;
  }
  const list = h('ul', { class: 'events', id: 'events' });
  for (const e of events) {
    list.append(
      h(
        'li',
        {},
        h(
          'a',
          { href: `#event=${encodeURIComponent(e.id)}`, 'data-event-id': e.id },
          h('strong', {}, e.title),
          h('span', { class: 'muted' }, `${when(e.startsAt)}${e.venue ? ` · ${e.venue}` : ''} · ${number.format(e.capacity)} seats`),
          h('span', { class: `badge ${e.status.toLowerCase()}` }, e.status.toLowerCase()),
        ),
      ),
    );
  }
  clear(
    root,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'Your events'),
      events.length
        ? list
        : h('p', { class: 'empty' }, 'No events yet. Create one with createEvent (see /graphiql), then come back.'),
    ),
  );
}

function errorCard(title: string, error: unknown): HTMLElement {
  const message = error instanceof Error ? error.message : String(error);
  return h('section', { class: 'card' }, h('h1', {}, title), h('p', { class: 'error', role: 'alert' }, message), h('p', {}, h('a', { href: '#' }, '← Your events')));
}

/** One event, live. Returns the function that closes its subscriptions. */
function liveEvent(root: HTMLElement, eventId: string): () => void {
  let closed = false;
  const disposers: (() => void)[] = [];
  const banner = h('p', { class: 'connection', id: 'connection', 'data-state': 'connecting', role: 'status' }, 'Connecting…');
  clear(root, h('section', { class: 'card' }, h('p', { class: 'loading' }, 'Loading the event…')));

  let live = false;
  const client: Client = socket((state: Connection) => {
    banner.dataset.state = state;
    banner.textContent = state === 'connected' ? 'Live' : state === 'connecting' ? 'Connecting…' : 'Reconnecting… (numbers may be stale)';
    // Once per lost connection: the next connection resumes the reports after the last one shown.
    if (state === 'reconnecting' && live) restartReports();
    live = state === 'connected';
  });
  disposers.push(() => void client.dispose());

  let feed: Feed;
  let chart: SalesChart;
  let stopReports: () => void = () => {};
  let showSummary: (s: SummaryFragment) => void = () => {};
  let refreshWaitlist: () => void = () => {};
  // Held seats change without a transaction (reservations, expiries): each availability
  // message (and each report) refreshes the summary and the waitlist, at most every 250 ms.
  // A message during a refetch asks for one more, so the last answer is never older than it.
  let refetch: ReturnType<typeof setTimeout> | undefined;
  let inFlight = false;
  let again = false;
  function refreshSoon(): void {
    if (inFlight) again = true;
    else refetch ??= setTimeout(runRefresh, 250);
  }
  async function runRefresh(): Promise<void> {
    refetch = undefined;
    if (closed) return;
    inFlight = true;
    try {
      showSummary((await request(DashboardReportDocument, { id: eventId })).eventReport);
    } catch {
      // The next message tries again; the banner shows connection trouble.
    } finally {
      inFlight = false;
    }
    refreshWaitlist();
    if (again) {
      again = false;
      refreshSoon();
    }
  }
  disposers.push(() => clearTimeout(refetch));
  const onError = (what: string) => (message: string) => {
    banner.dataset.state = 'error';
    banner.textContent = `${what}: ${message}`;
  };

  // The report stream, from the last report shown (or the first one ever): after a
  // disconnect the new subscription asks for exactly the reports that followed, and the feed
  // drops any it already has.
  function restartReports(): void {
    if (closed || !feed) return;
    stopReports();
    stopReports = subscribe(client, DashboardReportsDocument, { eventId, after: feed.lastCursor ?? FIRST_CURSOR }, {
      next: (data) => onReport(data.transactionReports),
      error: onError('Transactions'),
    });
  }
  function onReport(report: Report): void {
    if (!feed.add(report)) return;
    // The summary as of this report, at once; a replay's older summaries are then corrected
    // by the current eventReport (held seats change without reports).
    showSummary(report.summary);
    refreshSoon();
    chartReport(report);
  }

  // The chart: its history from `analytics` (hourly buckets, added up), then one point per
  // report that is newer than that answer, counted from the summary returned with it. Until
  // the history is in, reports wait; without it (an error), the reports alone draw the chart.
  let history: { since: number; sold: number; revenueCents: number; base: { ticketsSold: number; revenueCents: number } } | null = null;
  let historyFailed = false;
  const waiting: Report[] = [];
  function chartReport(report: Report): void {
    const at = Math.floor(Date.parse(report.transaction.createdAt) / 1000);
    if (history) {
      if (at < history.since) return; // already in the analytics buckets
      chart.add({
        at,
        sold: history.sold + report.summary.ticketsSold - history.base.ticketsSold,
        revenueCents: history.revenueCents + report.summary.revenueCents - history.base.revenueCents,
      });
    } else if (historyFailed) {
      chart.add({ at, sold: report.summary.ticketsSold, revenueCents: report.summary.revenueCents });
    } else {
      waiting.push(report);
    }
  }
  async function loadHistory(): Promise<void> {
    try {
      const { data, serverSeconds } = await requestDated(DashboardSalesHistoryDocument, { eventId });
      if (closed) return;
      const points: SalesPoint[] = [];
      let sold = 0;
      let revenueCents = 0;
      const buckets = [...data.analytics.salesOverTime].sort((a, b) => Date.parse(a.start) - Date.parse(b.start));
      for (const bucket of buckets) {
        const start = Math.floor(Date.parse(bucket.start) / 1000);
        if (!points.length) points.push({ at: start, sold: 0, revenueCents: 0 });
        sold += bucket.ticketsSold;
        revenueCents += bucket.revenueCents;
        points.push({ at: Math.max(start + 1, Math.min(start + 3600, serverSeconds)), sold, revenueCents });
      }
      history = { since: serverSeconds, sold, revenueCents, base: data.eventReport };
      chart.setSource('from analytics, extended live by the reports');
      chart.setHistory(points);
    } catch {
      historyFailed = true;
      chart.setSource('from the transaction reports (analytics unavailable)');
    }
    for (const report of waiting.splice(0)) chartReport(report);
  }

  (async () => {
    let loaded: DashboardEventQuery;
    try {
      loaded = await request(DashboardEventDocument, { id: eventId });
    } catch (error) {
      if (!closed) clear(root, errorCard(error instanceof ApiError && error.code === 'FORBIDDEN' ? 'Not your event' : 'The event could not be loaded', error));
      return;
    }
    if (closed) return;
    const event = loaded.event;
    if (!event) {
      clear(root, errorCard('No such event', new Error('It does not exist, or you may not see it.')));
      return;
    }
    const numbers = summaryCards();
    const gauges = occupancy(event);
    const checkIns = checkInList();
    const waitlist = waitlistCounter(event);
    feed = new Feed();
    chart = new SalesChart('loading the history…');
    showSummary = (s) => {
      numbers.show(s);
      checkIns.total(s.checkedIn);
    };
    showSummary(loaded.eventReport);
    const seatMap = event.seatMap ? new SeatMapView(event.seatMap) : null;

    clear(
      root,
      h(
        'header',
        { class: 'event-head' },
        h('a', { href: '#', class: 'back' }, '← Your events'),
        h('h1', { id: 'event-title' }, event.title),
        h('p', { class: 'muted' }, `${when(event.startsAt)}${event.venue ? ` · ${event.venue}` : ''} · ${event.status.toLowerCase()}`),
        banner,
      ),
      numbers.element,
      h('div', { class: 'grid' }, chart.element, gauges.element),
      seatMap?.element,
      h('div', { class: 'grid' }, feed.element, h('div', { class: 'stack' }, checkIns.element, waitlist.element)),
    );

    refreshWaitlist = () => void waitlist.refresh();

    void loadHistory();
    restartReports();
    disposers.push(() => stopReports());
    disposers.push(
      subscribe(client, DashboardAvailabilityDocument, { eventId }, {
        next: (data) => {
          gauges.show(data.eventAvailability);
          refreshSoon();
        },
        error: onError('Availability'),
      }),
    );
    if (seatMap) {
      disposers.push(
        subscribe(client, DashboardSeatMapDocument, { eventId }, {
          next: (data) => seatMap.update(data.seatMapUpdates.seats),
          error: onError('Seat map'),
        }),
      );
    }
    disposers.push(
      subscribe(client, DashboardCheckInsDocument, { eventId }, {
        next: (data) => {
          checkIns.add(data.checkIns);
          refreshSoon();
        },
        error: onError('Check-ins'),
      }),
    );
    void waitlist.refresh();
    const poll = setInterval(() => void waitlist.refresh(), 15_000);
    disposers.push(() => clearInterval(poll));
  })();

  return () => {
    closed = true;
    for (const d of disposers.splice(0)) d();
    chart?.destroy();
  };
}

function summaryCards() {
  const cell = (id: string, label: string) => {
    const value = h('strong', { id, 'data-value': '' }, '–');
    return { value, element: h('div', { class: 'stat' }, value, h('span', {}, label)) };
  };
  const sold = cell('sold', 'sold');
  const held = cell('held', 'held');
  const available = cell('available', 'available');
  const revenue = cell('revenue', 'revenue');
  const refunded = cell('refunded', 'refunded');
  const failed = cell('failed', 'failed payments');
  const element = h('section', { class: 'stats', 'aria-label': 'Sales summary' }, ...[sold, held, available, revenue, refunded, failed].map((c) => c.element));
  const set = (c: { value: HTMLElement }, raw: number, text: string) => {
    c.value.dataset.value = String(raw);
    c.value.textContent = text;
  };
  return {
    element,
    show(s: SummaryFragment) {
      set(sold, s.ticketsSold, `${number.format(s.ticketsSold)} / ${number.format(s.capacity)}`);
      set(held, s.ticketsHeld, number.format(s.ticketsHeld));
      set(available, s.ticketsAvailable, number.format(s.ticketsAvailable));
      set(revenue, s.revenueCents, money(s.revenueCents));
      set(refunded, s.refundedCents, money(s.refundedCents));
      set(failed, s.failedPayments, number.format(s.failedPayments));
    },
  };
}

function occupancy(event: LoadedEvent) {
  const list = h('ul', { class: 'gauges', id: 'gauges' });
  const element = h('section', { class: 'card' }, h('h2', {}, 'Occupancy by ticket type'), list);
  const draw = (types: { id: string; name: string; capacity: number; available: number }[]) => {
    if (!types.length) {
      clear(list, h('li', { class: 'empty' }, 'This event has no ticket types.'));
      return;
    }
    clear(
      list,
      ...types.map((t) => {
        const taken = t.capacity - t.available;
        const share = t.capacity > 0 ? taken / t.capacity : 0;
        return h(
          'li',
          { 'data-ticket-type': t.id, 'data-taken': taken },
          h('span', { class: 'gauge-label' }, t.name, h('span', { class: 'muted' }, ` ${number.format(taken)} of ${number.format(t.capacity)} taken`)),
          h(
            'span',
            { class: 'gauge', role: 'meter', 'aria-valuemin': 0, 'aria-valuemax': t.capacity, 'aria-valuenow': taken, 'aria-label': t.name },
            h('i', { style: `width:${(share * 100).toFixed(1)}%` }),
          ),
          h('span', { class: 'gauge-value' }, `${Math.round(share * 100)}%`),
        );
      }),
    );
  };
  draw(event.ticketTypes);
  return {
    element,
    show(a: DashboardAvailabilitySubscription['eventAvailability']) {
      draw(a.ticketTypes.map((t) => ({ id: t.ticketTypeId, name: t.name, capacity: t.capacity, available: t.available })));
    },
  };
}

function checkInList() {
  const count = h('strong', { id: 'checked-in', 'data-value': 0 }, '0');
  const list = h('ol', { class: 'scans', id: 'scans' }, h('li', { class: 'empty' }, 'No scans yet.'));
  let shown = 0;
  return {
    element: h('section', { class: 'card' }, h('h2', {}, 'Check-ins'), h('p', { class: 'stat inline' }, count, h('span', {}, ' admitted')), list),
    total(n: number) {
      count.dataset.value = String(n);
      count.textContent = number.format(n);
    },
    add(scan: { status: string; message: string; checkedInAt?: string | null; ticket?: { holder: { username: string } } | null }) {
      if (shown === 0) list.replaceChildren();
      shown++;
      list.prepend(
        h(
          'li',
          { class: scan.status === 'ADMITTED' ? 'ok' : 'bad' },
          h('span', { class: 'tx-time' }, time(scan.checkedInAt ?? new Date().toISOString())),
          h('span', {}, scan.ticket?.holder.username ?? '—'),
          h('span', { class: 'muted' }, scan.message),
        ),
      );
      while (list.children.length > 20) list.lastElementChild!.remove();
    },
  };
}

function waitlistCounter(event: LoadedEvent) {
  const value = h('strong', { id: 'waitlist', 'data-value': '' }, '–');
  const note = h('span', {}, ' waiting');
  let busy = false;
  return {
    element: h('section', { class: 'card' }, h('h2', {}, 'Waitlist'), h('p', { class: 'stat inline' }, value, note)),
    async refresh() {
      if (busy) return;
      busy = true;
      try {
        let people = 0;
        let seats = 0;
        for (const type of event.ticketTypes) {
          let after: string | null = null;
          for (let page = 0; page < 20; page++) {
            const data: DashboardWaitlistQuery = await request(DashboardWaitlistDocument, { ticketTypeId: type.id, after });
            for (const { node } of data.waitlist.edges) {
              if (node.status === 'WAITING') {
                people++;
                seats += node.quantity;
              }
            }
            if (!data.waitlist.pageInfo.hasNextPage) break;
            after = data.waitlist.pageInfo.endCursor ?? null;
          }
        }
        value.dataset.value = String(people);
        value.textContent = number.format(people);
        note.textContent = people ? ` waiting, for ${number.format(seats)} seats` : ' waiting';
      } catch {
        // Shown as is until the next refresh.
      } finally {
        busy = false;
      }
    },
  };
}
