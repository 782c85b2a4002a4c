// Talking to the server: GraphQL over HTTP (fetch) and over WebSocket (graphql-ws), always to
// the page's own origin, with the signed-in session's bearer token.

import { createClient, type Client } from 'graphql-ws';
import type { TypedDocumentString } from './generated/graphql';
import { session } from './session';

export class ApiError extends Error {
  constructor(
    message: string,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface GraphQLResponse<T> {
  data?: T | null;
  errors?: { message: string; extensions?: { code?: string } }[];
}

/** One query or mutation; throws ApiError with the first error's message and code. */
export async function request<R, V>(
  document: TypedDocumentString<R, V>,
  variables: V,
  options: { auth?: boolean } = {},
): Promise<R> {
  return (await requestDated(document, variables, options)).data;
}

/** `request`, with the server's clock at the answer (its `Date` header, in whole seconds). */
export async function requestDated<R, V>(
  document: TypedDocumentString<R, V>,
  variables: V,
  { auth = true }: { auth?: boolean } = {},
): Promise<{ data: R; serverSeconds: number }> {
  const send = async (): Promise<Response> => {
    const token = auth ? session.current()?.accessToken : undefined;
    return fetch('/graphql', {
      method: 'POST',
      headers: {
        'content-type': 'application/json',
        accept: 'application/graphql-response+json, application/json',
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query: document.toString(), variables }),
    });
  };
  let response: Response;
  try {
    response = await send();
  } catch {
    throw new ApiError('The server cannot be reached.', 'NETWORK');
  }
  let body = (await response.json().catch(() => ({}))) as GraphQLResponse<R>;
  // An access token that expired in between: refresh once and try again.
  if (auth && body.errors?.[0]?.extensions?.code === 'UNAUTHENTICATED' && (await session.refresh())) {
    response = await send();
    body = (await response.json().catch(() => ({}))) as GraphQLResponse<R>;
  }
  if (body.errors?.length) {
    const first = body.errors[0]!;
    throw new ApiError(first.message, first.extensions?.code);
  }
  if (!response.ok || !body.data) throw new ApiError(`The server answered ${response.status}.`);
  const date = Date.parse(response.headers.get('date') ?? '');
  return { data: body.data, serverSeconds: Math.floor((Number.isNaN(date) ? Date.now() : date) / 1000) };
}

export type Connection = 'connecting' | 'connected' | 'reconnecting';

/**
 * The page's one WebSocket. It reconnects for ever (a server restart is a pause, not an end),
 * sending the current access token each time; `onState` hears about every change.
 */
export function socket(onState: (state: Connection) => void): Client {
  const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/graphql`;
  let everConnected = false;
  return createClient({
    url,
    lazy: true,
    keepAlive: 10_000,
    retryAttempts: Number.POSITIVE_INFINITY,
    shouldRetry: () => true,
    // Quick at first (a restart takes a second or two), then at most every 3 s.
    retryWait: (retries) =>
      new Promise((resolve) => setTimeout(resolve, Math.min(200 * 2 ** retries, 3000) + Math.random() * 200)),
    // Each (re)connection sends the token of the moment, refreshed if it expired meanwhile.
    connectionParams: async () => {
      const token = (await session.fresh())?.accessToken;
      return token ? { Authorization: `Bearer ${token}` } : {};
    },
    on: {
      connecting: () => onState(everConnected ? 'reconnecting' : 'connecting'),
      connected: () => {
        everConnected = true;
        onState('connected');
      },
      closed: () => {
        if (everConnected) onState('reconnecting');
      },
    },
  });
}

/** Subscribes with a typed document; returns the function that ends the subscription. */
export function subscribe<R, V>(
  client: Client,
  document: TypedDocumentString<R, V>,
  variables: V,
  handlers: { next: (data: R) => void; error: (message: string) => void },
): () => void {
  return client.subscribe<R>(
    { query: document.toString(), variables: variables as Record<string, unknown> },
    {
      next: (result) => {
        if (result.errors?.length) handlers.error(result.errors[0]!.message);
        else if (result.data) handlers.next(result.data as R);
      },
      error: (error) => handlers.error(describe(error)),
      complete: () => {},
    },
  );
}

function describe(error: unknown): string {
  if (Array.isArray(error)) return String(error[0]?.message ?? 'subscription failed');
  if (error instanceof Error) return error.message;
  if (error && typeof error === 'object' && 'reason' in error) return String((error as CloseEvent).reason || 'connection closed');
  return 'subscription failed';
}
