// Amounts as the server writes them (src/mail/templates.rs `money`): `$12.50`, `€12.50`,
// `£12.50`, `¥1250`, otherwise `12.50 CHF`. The platform currency comes from the page's
// <meta name="evenntify-currency">, which the server fills in from CURRENCY.

const ZERO_DECIMAL = new Set(['JPY', 'KRW', 'ISK', 'CLP', 'VND']);
const SYMBOLS: Record<string, string> = { USD: '$', EUR: '€', GBP: '£', JPY: '¥' };

export function platformCurrency(): string {
  const meta = document.querySelector<HTMLMetaElement>('meta[name="evenntify-currency"]');
  const code = meta?.content ?? '';
  return /^[A-Z]{3}$/.test(code) ? code : 'USD';
}

export function money(cents: number, currency = platformCurrency()): string {
  const sign = cents < 0 ? '-' : '';
  const abs = Math.abs(Math.trunc(cents));
  const amount = ZERO_DECIMAL.has(currency)
    ? String(abs)
    : `${Math.floor(abs / 100)}.${String(abs % 100).padStart(2, '0')}`;
  const symbol = SYMBOLS[currency];
  return symbol ? `${sign}${symbol}${amount}` : `${sign}${amount} ${currency}`;
}
