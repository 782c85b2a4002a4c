// The transaction feed: every report once, newest first. Reports are deduplicated by their
// cursor's position (the server numbers reports in order), so a re-subscription that replays
// some never shows one twice. Only the newest MAX_ROWS rows are in the DOM: 10,000 reports
// keep the page as light as 300.

import { h, time } from './dom';
import type { DashboardReportsSubscription } from './generated/graphql';
import { money } from './money';

export type Report = DashboardReportsSubscription['transactionReports'];
const MAX_ROWS = 300;

/** The number inside a `transactionReports` cursor (base64url of `report:<position>`). */
export function position(cursor: string): number {
  try {
    const plain = atob(cursor.replace(/-/g, '+').replace(/_/g, '/'));
    const n = Number(plain.startsWith('report:') ? plain.slice(7) : NaN);
    return Number.isSafeInteger(n) ? n : -1;
  } catch {
    return -1;
  }
}

/** The cursor before the first report: subscribing `after` it replays every stored report. */
export const FIRST_CURSOR = btoa('report:0').replace(/=+$/, '');

export class Feed {
  readonly element: HTMLElement;
  private list: HTMLOListElement;
  private count: HTMLElement;
  private total = 0;
  private last = 0;
  lastCursor: string | null = null;
  private pending: Report[] = [];
  private frame = 0;

  constructor() {
    this.list = h('ol', { class: 'feed', id: 'feed', 'aria-live': 'polite' });
    this.count = h('span', { class: 'muted', id: 'feed-count' }, 'no transactions yet');
    this.element = h('section', { class: 'card feed-card' }, h('h2', {}, 'Transactions ', this.count), this.list);
    this.list.append(h('li', { class: 'empty' }, 'Payments, failed payments and refunds appear here as they happen.'));
  }

  /** Adds a report unless it was already shown; true if it was new. */
  add(report: Report): boolean {
    const p = position(report.cursor);
    if (p <= this.last) return false;
    this.last = p;
    this.lastCursor = report.cursor;
    this.total++;
    this.pending.push(report);
    // Many reports at once (a replay) cost one DOM update per frame.
    this.frame ||= requestAnimationFrame(() => this.flush());
    return true;
  }

  private flush(): void {
    this.frame = 0;
    const batch = this.pending.splice(0).slice(-MAX_ROWS);
    if (batch.length && this.list.querySelector('.empty')) this.list.replaceChildren();
    const fragment = document.createDocumentFragment();
    for (let i = batch.length - 1; i >= 0; i--) fragment.append(row(batch[i]!));
    this.list.prepend(fragment);
    while (this.list.children.length > MAX_ROWS) this.list.lastElementChild!.remove();
    this.count.textContent =
      this.total > MAX_ROWS ? `${this.total} (newest ${MAX_ROWS} shown)` : `${this.total}`;
  }
}

function row(report: Report): HTMLLIElement {
  const t = report.transaction;
  const failed = t.status === 'FAILED';
  const kind = failed ? 'failed' : t.kind === 'REFUND' ? 'refund' : 'payment';
  const label = failed ? 'Payment failed' : t.kind === 'REFUND' ? 'Refund' : t.kind === 'PAYMENT' ? 'Payment' : t.kind;
  const amount = t.kind === 'REFUND' ? -t.amountCents : t.amountCents;
  return h(
    'li',
    { class: `tx ${kind}`, 'data-cursor': report.cursor, 'data-transaction-id': t.id },
    h('span', { class: 'tx-time' }, time(t.createdAt)),
    h('span', { class: 'tx-kind' }, label),
    h('span', { class: 'tx-who' }, t.buyer.username, t.method ? ` · ${t.method.toLowerCase()}` : ''),
    h('span', { class: 'tx-amount' }, failed ? money(t.amountCents) : money(amount)),
    failed && t.failureReason ? h('span', { class: 'tx-reason' }, t.failureReason) : null,
  );
}
