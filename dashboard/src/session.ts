// The signed-in session: kept in memory and in sessionStorage (gone when the tab closes),
// refreshed with the refresh token a minute before the access token expires.

import { ApiError, request } from './api';
import {
  DashboardLoginDocument,
  DashboardLogoutDocument,
  DashboardRefreshDocument,
  type SessionFragment,
} from './generated/graphql';

const KEY = 'evenntify.dashboard.session';
type Listener = (s: SessionFragment | null) => void;

class Session {
  private value: SessionFragment | null = null;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private refreshing: Promise<boolean> | null = null;
  private listeners: Listener[] = [];

  constructor() {
    try {
      const stored = sessionStorage.getItem(KEY);
      if (stored) this.set(JSON.parse(stored) as SessionFragment);
    } catch {
      sessionStorage.removeItem(KEY);
    }
  }

  current(): SessionFragment | null {
    return this.value;
  }

  /** The current session, refreshed first if its access token has (almost) expired. */
  async fresh(): Promise<SessionFragment | null> {
    if (this.value && Date.parse(this.value.expiresAt) - Date.now() < 5000) await this.refresh();
    return this.value;
  }

  onChange(listener: Listener): void {
    this.listeners.push(listener);
  }

  async login(username: string, password: string): Promise<SessionFragment> {
    const data = await request(DashboardLoginDocument, { username, password }, { auth: false });
    this.set(data.login);
    return data.login;
  }

  /** Trades the refresh token for new tokens; false (and signed out) when that fails. */
  refresh(): Promise<boolean> {
    const refreshToken = this.value?.refreshToken;
    if (!refreshToken) return Promise.resolve(false);
    this.refreshing ??= request(DashboardRefreshDocument, { refreshToken }, { auth: false })
      .then((data) => {
        this.set(data.refreshToken);
        return true;
      })
      .catch((error: unknown) => {
        // The server said no (a used or revoked refresh token): signed out. The server cannot
        // be reached (a restart): keep the session and try again shortly.
        if (error instanceof ApiError && error.code === 'UNAUTHENTICATED') this.set(null);
        else {
          clearTimeout(this.timer);
          this.timer = setTimeout(() => void this.refresh(), 2000);
        }
        return false;
      })
      .finally(() => {
        this.refreshing = null;
      });
    return this.refreshing;
  }

  async logout(): Promise<void> {
    const refreshToken = this.value?.refreshToken;
    this.set(null);
    if (refreshToken) await request(DashboardLogoutDocument, { refreshToken }, { auth: false }).catch(() => {});
  }

  private set(value: SessionFragment | null): void {
    this.value = value;
    clearTimeout(this.timer);
    if (value) {
      sessionStorage.setItem(KEY, JSON.stringify(value));
      // A minute before expiry, or halfway for very short tokens.
      const left = Date.parse(value.expiresAt) - Date.now();
      const wait = Math.max(1000, Math.min(left - 60_000, left / 2));
      this.timer = setTimeout(() => void this.refresh(), wait);
    } else {
      sessionStorage.removeItem(KEY);
    }
    for (const l of this.listeners) l(value);
  }
}

export const session = new Session();
