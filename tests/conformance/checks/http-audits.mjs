// (a) GraphQL over HTTP: every audit of graphql-http's serverAudits must come back "ok" —
// the MUSTs, and the SHOULDs and MAYs as well (a "warn" or "notice" counts as a failure).

import { serverAudits } from 'graphql-http';

export async function httpAudits({ url, check }) {
  for (const audit of serverAudits({ url: `${url}/graphql`, fetchFn: fetch })) {
    await check(`graphql-http ${audit.id}: ${audit.name}`, async () => {
      const result = await audit.fn();
      if (result.status !== 'ok') {
        const status = result.response ? ` (HTTP ${result.response.status})` : '';
        throw new Error(`${result.status}: ${result.reason}${status}`);
      }
    });
  }
}
