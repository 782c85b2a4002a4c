// The GraphiQL fetcher: queries and mutations over HTTP POST, subscriptions over one WebSocket
// (graphql-transport-ws, through graphql-ws). One access token, pasted once in the token bar,
// authenticates both: as the `Authorization` header on HTTP and in the `connection_init`
// payload on the WebSocket, because browsers cannot set headers on a WebSocket. An
// `Authorization` header typed in GraphiQL's Headers pane wins over the token bar, for both.

import { createClient } from 'graphql-ws';
import { getOperationAST, parse } from 'graphql';

export function createFetcher({ endpoint, getToken, onResponse, onSocketStatus }) {
  const httpUrl = new URL(endpoint, window.location.href).toString();
  const wsUrl = httpUrl.replace(/^http/, 'ws');
  let socket = null; // { auth, client }: one connection per distinct credential

  function clientFor(auth) {
    if (socket && socket.auth === auth) return socket.client;
    socket?.client.dispose();
    const client = createClient({
      url: wsUrl,
      lazy: true,
      retryAttempts: 2,
      connectionParams: () => (auth ? { Authorization: auth } : {}),
      on: {
        connecting: () => onSocketStatus('connecting'),
        connected: () => onSocketStatus('connected'),
        closed: (event) => onSocketStatus(closedStatus(event)),
      },
    });
    socket = { auth, client };
    return client;
  }

  async function* subscribe(params, auth) {
    const request = {
      query: params.query,
      variables: params.variables ?? undefined,
      operationName: params.operationName ?? undefined,
    };
    try {
      for await (const result of clientFor(auth).iterate(request)) yield result;
    } catch (error) {
      // graphql-ws rejects with the CloseEvent (e.g. 4403 for a refused token) or with the
      // GraphQL errors of a subscription that failed validation.
      if (Array.isArray(error)) yield { errors: error };
      else if (error && typeof error.code === 'number') {
        yield { errors: [{ message: `WebSocket ${closedStatus(error)}` }] };
      } else throw error;
    }
  }

  return async function fetcher(params, options) {
    const paneHeaders = options?.headers ?? {};
    const paneAuth = headerValue(paneHeaders, 'authorization');
    const token = getToken();
    const auth = paneAuth || (token ? `Bearer ${token}` : undefined);
    if (isSubscription(params)) return subscribe(params, auth);

    const headers = {
      'content-type': 'application/json',
      accept: 'application/graphql-response+json, application/json;q=0.9',
      ...paneHeaders,
    };
    if (auth && !paneAuth) headers.authorization = auth;
    const response = await fetch(httpUrl, {
      method: 'POST',
      headers,
      body: JSON.stringify(params),
    });
    const text = await response.text();
    let body;
    try {
      body = JSON.parse(text);
    } catch {
      return { errors: [{ message: `HTTP ${response.status}: ${text.slice(0, 500)}` }] };
    }
    onResponse(body);
    return body;
  };
}

function isSubscription(params) {
  try {
    const operation = getOperationAST(parse(params.query), params.operationName || undefined);
    return operation?.operation === 'subscription';
  } catch {
    return false;
  }
}

function headerValue(headers, name) {
  const key = Object.keys(headers).find((k) => k.toLowerCase() === name);
  const value = key === undefined ? undefined : headers[key];
  return typeof value === 'string' && value.trim() ? value.trim() : undefined;
}

function closedStatus(event) {
  const code = event?.code;
  const reason = event?.reason ? `: ${event.reason}` : '';
  if (code === 1000) return 'closed';
  return code ? `closed (${code}${reason})` : 'closed';
}
