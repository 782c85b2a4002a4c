// A seated event's seat map on a canvas, one small square per seat coloured by status, so an
// event of 20,000 seats draws in one pass; `seatMapUpdates` recolours the seats that changed.

import { h, number } from './dom';
import type { SeatMapSectionsFragment, SeatStateFragment } from './generated/graphql';

type Status = SeatStateFragment['status'];
const COLOURS: Record<Status, string> = {
  AVAILABLE: '#d1fae5',
  HELD: '#fbbf24',
  SOLD: '#2563eb',
  BLOCKED: '#9ca3af',
};

interface Placed {
  x: number;
  y: number;
  status: Status;
}

export class SeatMapView {
  readonly element: HTMLElement;
  private canvas: HTMLCanvasElement;
  private legend: HTMLElement;
  private seats = new Map<string, Placed>();
  private cell = 8;

  constructor(map: SeatMapSectionsFragment) {
    this.canvas = h('canvas', { id: 'seat-map', role: 'img', 'aria-label': 'Seat map' });
    this.legend = h('p', { class: 'legend', id: 'seat-legend' });
    this.element = h('section', { class: 'card seatmap-card' }, h('h2', {}, 'Seat map'), this.legend, h('div', { class: 'seatmap-scroll' }, this.canvas));
    this.layout(map);
    this.drawAll();
  }

  update(seats: SeatStateFragment[]): void {
    const ctx = this.canvas.getContext('2d');
    for (const seat of seats) {
      const placed = this.seats.get(seat.id);
      if (!placed) continue;
      placed.status = seat.status;
      if (ctx) this.paint(ctx, placed);
    }
    this.writeLegend();
  }

  private layout(map: SeatMapSectionsFragment): void {
    const widest = Math.max(1, ...map.sections.flatMap((s) => s.rows.map((r) => r.seats.length)));
    const rows = map.sections.reduce((n, s) => n + s.rows.length + 1, 0);
    // Squares of 3 to 12 px: a big hall stays about 900 px wide.
    this.cell = Math.max(3, Math.min(12, Math.floor(900 / widest)));
    let y = 0;
    for (const section of map.sections) {
      for (const row of section.rows) {
        row.seats.forEach((seat, i) => this.seats.set(seat.id, { x: i * this.cell, y: y * this.cell, status: seat.status }));
        y++;
      }
      y++; // a gap between sections
    }
    this.canvas.width = widest * this.cell;
    this.canvas.height = Math.max(1, rows) * this.cell;
  }

  private drawAll(): void {
    const ctx = this.canvas.getContext('2d');
    if (ctx) for (const seat of this.seats.values()) this.paint(ctx, seat);
    this.writeLegend();
  }

  private paint(ctx: CanvasRenderingContext2D, seat: Placed): void {
    ctx.fillStyle = COLOURS[seat.status];
    const gap = this.cell > 4 ? 1 : 0;
    ctx.fillRect(seat.x, seat.y, this.cell - gap, this.cell - gap);
  }

  private writeLegend(): void {
    const counts: Record<Status, number> = { AVAILABLE: 0, HELD: 0, SOLD: 0, BLOCKED: 0 };
    for (const s of this.seats.values()) counts[s.status]++;
    this.legend.replaceChildren(
      ...(Object.keys(COLOURS) as Status[]).map((status) =>
        h(
          'span',
          { class: 'key', 'data-status': status, 'data-count': counts[status] },
          h('i', { style: `background:${COLOURS[status]}` }),
          `${status.toLowerCase()} ${number.format(counts[status])}`,
        ),
      ),
    );
  }
}
