// The entry point: /dashboard is the organizer's view, /dashboard/tickets the buyer's.

import './style.css';
import { clear, h } from './dom';
import { loginForm } from './login';
import { organizerView } from './organizer';
import { session } from './session';
import { ticketsView } from './tickets';

const root = document.getElementById('app')!;
const nav = document.getElementById('nav')!;
const tickets = location.pathname.replace(/\/$/, '').endsWith('/tickets');
let stop: () => void = () => {};
let shownFor: string | null | undefined; // the user the page shows (null: the sign-in form)

async function render(): Promise<void> {
  const current = session.current();
  // A refreshed token is the same person: keep the page (and its subscriptions) as it is.
  if ((current?.user.id ?? null) === shownFor) return;
  shownFor = current?.user.id ?? null;
  stop();
  stop = () => {};
  clear(
    nav,
    h('a', { href: '/dashboard', class: 'brand' }, 'Evenntify'),
    h('a', { href: '/dashboard', 'aria-current': tickets ? undefined : 'page' }, 'Dashboard'),
    h('a', { href: '/dashboard/tickets', 'aria-current': tickets ? 'page' : undefined }, 'My tickets'),
    current ? h('span', { class: 'who', id: 'who' }, current.user.username) : null,
    current ? h('button', { type: 'button', id: 'sign-out', onclick: () => void session.logout() }, 'Sign out') : null,
  );
  if (!current) {
    clear(
      root,
      tickets
        ? loginForm('My tickets', 'Sign in to see your tickets, their QR codes and PDFs.')
        : loginForm('Organizer dashboard', 'Sign in as an organizer or admin to watch your events live.'),
    );
    return;
  }
  if (tickets) await ticketsView(root);
  else stop = await organizerView(root, current.user);
}

session.onChange(() => void render());
void render();
