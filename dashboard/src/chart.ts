// Sales over time: tickets sold and revenue, cumulative. The history comes first (the
// `analytics` buckets, or the replayed reports), then every live report adds a point.

import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';
import { h } from './dom';
import { money } from './money';

export interface SalesPoint {
  /** Seconds since the epoch. */
  at: number;
  sold: number;
  revenueCents: number;
}

const MAX_POINTS = 5000;

export class SalesChart {
  readonly element: HTMLElement;
  private plotArea: HTMLElement;
  private empty: HTMLElement;
  private points: SalesPoint[] = [];
  private plot: uPlot | null = null;
  private frame = 0;
  private resize: ResizeObserver;

  constructor(source: string) {
    this.plotArea = h('div', { class: 'chart', id: 'sales-chart', 'data-points': 0, 'data-sold': 0 });
    this.empty = h('p', { class: 'empty' }, 'No sales yet: the chart starts with the first payment.');
    this.element = h(
      'section',
      { class: 'card chart-card' },
      h('h2', {}, 'Sales over time ', h('span', { class: 'muted', id: 'chart-source' }, source)),
      this.empty,
      this.plotArea,
    );
    this.resize = new ResizeObserver(() => this.plot?.setSize(this.size()));
    this.resize.observe(this.plotArea);
  }

  setSource(source: string): void {
    this.element.querySelector('#chart-source')!.textContent = source;
  }

  /** Replaces everything before `at` with `history` (e.g. when the analytics arrive). */
  setHistory(history: SalesPoint[]): void {
    const until = history.length ? history[history.length - 1]!.at : 0;
    this.points = [...history, ...this.points.filter((p) => p.at > until)];
    this.schedule();
  }

  add(point: SalesPoint): void {
    const last = this.points[this.points.length - 1];
    // One point per second (uPlot's x values must be distinct): the figures are cumulative, so
    // the second's last report stands for it.
    if (last && last.at === point.at) this.points[this.points.length - 1] = point;
    else this.points.push(point);
    if (last && point.at < last.at) this.points.sort((a, b) => a.at - b.at);
    if (this.points.length > MAX_POINTS) this.points.splice(0, this.points.length - MAX_POINTS);
    this.schedule();
  }

  destroy(): void {
    this.resize.disconnect();
    this.plot?.destroy();
    cancelAnimationFrame(this.frame);
  }

  private schedule(): void {
    this.frame ||= requestAnimationFrame(() => this.draw());
  }

  private size(): { width: number; height: number } {
    return { width: Math.max(240, this.plotArea.clientWidth), height: 220 };
  }

  private draw(): void {
    this.frame = 0;
    const last = this.points[this.points.length - 1];
    this.plotArea.dataset.points = String(this.points.length);
    this.plotArea.dataset.sold = String(last?.sold ?? 0);
    this.plotArea.dataset.revenueCents = String(last?.revenueCents ?? 0);
    this.empty.hidden = this.points.length > 0;
    if (!this.points.length) return;
    const data: uPlot.AlignedData = [
      this.points.map((p) => p.at),
      this.points.map((p) => p.sold),
      this.points.map((p) => p.revenueCents),
    ];
    if (this.plot) {
      this.plot.setData(data);
      return;
    }
    this.plot = new uPlot(
      {
        ...this.size(),
        cursor: { drag: { x: false, y: false } },
        legend: { live: true },
        // From zero up, re-ranged with every new point.
        scales: {
          x: { time: true },
          tickets: { auto: true, range: (_u, _min, max) => [0, Math.max(1, max) * 1.1] },
          money: { auto: true, range: (_u, _min, max) => [0, Math.max(100, max) * 1.1] },
        },
        series: [
          {},
          { label: 'Tickets sold', stroke: '#2563eb', width: 2, scale: 'tickets', paths: uPlot.paths.stepped!({ align: 1 }) },
          {
            label: 'Revenue',
            stroke: '#059669',
            width: 2,
            scale: 'money',
            value: (_u, v) => (v == null ? '–' : money(v)),
            paths: uPlot.paths.stepped!({ align: 1 }),
          },
        ],
        axes: [
          {},
          { scale: 'tickets', label: 'tickets' },
          { scale: 'money', side: 1, grid: { show: false }, values: (_u, vals) => vals.map((v) => money(v)), size: 70 },
        ],
      },
      data,
      this.plotArea,
    );
  }
}
