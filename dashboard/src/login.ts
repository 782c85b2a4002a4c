// The sign-in form shared by both views.

import { ApiError } from './api';
import { h } from './dom';
import { session } from './session';

export function loginForm(title: string, note: string): HTMLElement {
  const error = h('p', { class: 'error', role: 'alert', id: 'login-error' });
  const username = h('input', { id: 'username', name: 'username', autocomplete: 'username', required: true });
  const password = h('input', {
    id: 'password',
    name: 'password',
    type: 'password',
    autocomplete: 'current-password',
    required: true,
  });
  const button = h('button', { type: 'submit', id: 'sign-in' }, 'Sign in');
  const form = h(
    'form',
    {
      class: 'card login',
      onsubmit: async (e: Event) => {
        e.preventDefault();
        button.disabled = true;
        button.textContent = 'Signing in…';
        error.textContent = '';
        try {
          await session.login(username.value.trim(), password.value);
        } catch (err) {
          error.textContent =
            err instanceof ApiError && err.code === 'UNAUTHENTICATED'
              ? 'Wrong username or password.'
              : err instanceof Error
                ? err.message
                : String(err);
          button.disabled = false;
          button.textContent = 'Sign in';
        }
      },
    },
    h('h1', {}, title),
    h('p', { class: 'muted' }, note),
    h('label', { for: 'username' }, 'Username'),
    username,
    h('label', { for: 'password' }, 'Password'),
    password,
    button,
    error,
  );
  return form;
}
