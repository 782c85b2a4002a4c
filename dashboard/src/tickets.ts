// The buyer's tickets at /dashboard/tickets: each ticket with its QR code, a PDF download
// (GET /tickets/{id}.pdf needs the bearer token, so it is fetched and saved as a blob) and
// "add to calendar" (the public GET /events/{id}.ics, and the personal feed myCalendarUrl).

import { request } from './api';
import { clear, h, when } from './dom';
import { DashboardMyTicketsDocument, type DashboardMyTicketsQuery } from './generated/graphql';
import { money } from './money';
import { session } from './session';

type Ticket = DashboardMyTicketsQuery['myTickets']['edges'][number]['node'];

export async function ticketsView(root: HTMLElement): Promise<void> {
  clear(root, h('section', { class: 'card' }, h('p', { class: 'loading' }, 'Loading your tickets…')));
  const tickets: Ticket[] = [];
  let calendarUrl = '';
  try {
    let after: string | null = null;
    for (let page = 0; page < 20; page++) {
      const data: DashboardMyTicketsQuery = await request(DashboardMyTicketsDocument, { after });
      tickets.push(...data.myTickets.edges.map((e) => e.node));
      calendarUrl = data.myCalendarUrl;
      if (!data.myTickets.pageInfo.hasNextPage) break;
      after = data.myTickets.pageInfo.endCursor ?? null;
    }
  } catch (error) {
    clear(root, h('section', { class: 'card' }, h('h1', {}, 'Your tickets could not be loaded'), h('p', { class: 'error', role: 'alert' }, error instanceof Error ? error.message : String(error))));
    return;
  }
  const copy = h('button', { type: 'button', onclick: () => void navigator.clipboard?.writeText(calendarUrl) }, 'Copy link');
  clear(
    root,
    h(
      'section',
      { class: 'card' },
      h('h1', {}, 'My tickets'),
      h('p', { class: 'muted' }, 'Every event you hold tickets for, in your calendar app: ', h('a', { href: calendarUrl, id: 'calendar-feed' }, 'calendar feed'), ' ', copy, ' (keep the link private).'),
    ),
    tickets.length
      ? h('ul', { class: 'tickets', id: 'tickets' }, ...tickets.map(card))
      : h('section', { class: 'card' }, h('p', { class: 'empty' }, 'No tickets yet.')),
  );
}

function card(t: Ticket): HTMLLIElement {
  const error = h('span', { class: 'error', role: 'alert' });
  const download = h(
    'button',
    {
      type: 'button',
      class: 'pdf',
      onclick: async () => {
        error.textContent = '';
        try {
          await downloadPdf(t.id);
        } catch (e) {
          error.textContent = e instanceof Error ? e.message : String(e);
        }
      },
    },
    'Download PDF',
  );
  return h(
    'li',
    { class: `card ticket ${t.status.toLowerCase()}`, 'data-ticket-id': t.id },
    // The SVG as an image: it is drawn, never run.
    h('img', { class: 'qr', alt: `QR code of ticket ${t.id}`, src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(t.qrSvg)}` }),
    h(
      'div',
      {},
      h('h2', {}, t.event.title),
      h('p', {}, when(t.event.startsAt), t.event.venue ? ` · ${t.event.venue}` : ''),
      h('p', {}, t.ticketType.name, t.seat ? ` · seat ${t.seat.label}` : '', ` · ${money(t.ticketType.priceCents)}`),
      h('p', { class: 'muted' }, t.status === 'VOID' ? 'Void' : t.checkedInAt ? `Checked in ${when(t.checkedInAt)}` : 'Valid', t.holderName ? ` · ${t.holderName}` : ''),
      h('p', { class: 'actions' }, download, ' ', h('a', { href: `/events/${encodeURIComponent(t.event.id)}.ics`, download: `${t.event.id}.ics` }, 'Add to calendar'), ' ', error),
    ),
  );
}

async function downloadPdf(ticketId: string): Promise<void> {
  const get = () =>
    fetch(`/tickets/${encodeURIComponent(ticketId)}.pdf`, {
      headers: { authorization: `Bearer ${session.current()?.accessToken ?? ''}` },
    });
  let response = await get();
  if (response.status === 404 && (await session.refresh())) response = await get();
  if (!response.ok) throw new Error(`The PDF could not be fetched (${response.status}).`);
  const url = URL.createObjectURL(await response.blob());
  const a = h('a', { href: url, download: `ticket-${ticketId}.pdf` });
  document.body.append(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}
