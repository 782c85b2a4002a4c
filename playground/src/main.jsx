// Evenntify's offline GraphiQL: GraphiQL 5 with its Monaco workers served from this server,
// a token bar whose access token authenticates HTTP requests and WebSocket subscriptions alike,
// and the saved example operations in a sidebar plugin.

import { StrictMode, useCallback, useEffect, useMemo, useRef, useState } from 'react';
import { createRoot } from 'react-dom/client';
import { GraphiQL } from 'graphiql';
import 'graphiql/style.css';
import './playground.css';
import { createFetcher } from './fetcher.js';
import { examplesPlugin } from './examples.jsx';

// Monaco's web workers are bundled next to this file (see build.mjs), never fetched elsewhere.
globalThis.MonacoEnvironment = {
  getWorker(_id, label) {
    const file =
      label === 'json' ? 'json.worker.js' : label === 'graphql' ? 'graphql.worker.js' : 'editor.worker.js';
    return new Worker(new URL(`./${file}`, import.meta.url));
  },
};

const TOKEN_KEY = 'evenntify:accessToken';
const root = document.getElementById('playground');
const config = {
  endpoint: root.dataset.endpoint || '/graphql',
  operations: root.dataset.operations || '/graphiql/operations.json',
};
const plugins = [examplesPlugin(config.operations)];

const WELCOME = `# Evenntify playground
#
# 1. Paste an access token in the bar above,
#    or run Register or Login from Examples
#    and press "Use token of …". It is sent
#    as Authorization: Bearer … over HTTP
#    and in connection_init over WebSocket.
# 2. Open an operation from Examples (left),
#    fill in its variables, press ▶.
# 3. Subscriptions stream their results on
#    the right until you press ■.

query PublishedEvents {
  events(first: 5) {
    totalCount
    edges {
      node {
        id
        title
        startsAt
        available
      }
    }
  }
}
`;

function App() {
  const [token, setToken] = useState(() => localStorage.getItem(TOKEN_KEY) ?? '');
  const [offered, setOffered] = useState(null); // an accessToken seen in a response
  const [socket, setSocket] = useState('idle');
  const tokenRef = useRef(token);
  tokenRef.current = token;

  const saveToken = useCallback((value) => {
    const trimmed = value.trim().replace(/^bearer\s+/i, '');
    setToken(trimmed);
    if (trimmed) localStorage.setItem(TOKEN_KEY, trimmed);
    else localStorage.removeItem(TOKEN_KEY);
  }, []);

  const fetcher = useMemo(
    () =>
      createFetcher({
        endpoint: config.endpoint,
        getToken: () => tokenRef.current,
        onResponse: (body) => {
          const found = findAuthPayload(body?.data);
          if (found) setOffered(found);
        },
        onSocketStatus: setSocket,
      }),
    [],
  );

  return (
    <div className="ev-app">
      <TokenBar
        token={token}
        onToken={(value) => {
          setOffered(null); // a token chosen by hand replaces any offer
          saveToken(value);
        }}
        offered={offered && offered.accessToken !== token ? offered : null}
        socket={socket}
      />
      <div className="ev-graphiql">
        <GraphiQL
          fetcher={fetcher}
          plugins={plugins}
          visiblePlugin="Examples"
          defaultQuery={WELCOME}
          defaultEditorToolsVisibility="variables"
        />
      </div>
    </div>
  );
}

function TokenBar({ token, onToken, offered, socket }) {
  const identity = useIdentity(token);
  const claims = decodeClaims(token);
  let status = 'anonymous';
  if (identity?.username) {
    const expiry = claims?.expired ? 'EXPIRED' : `valid until ${claims?.until ?? '?'}`;
    status = `signed in as ${identity.username} (${identity.role}), token ${expiry}`;
  } else if (identity?.error) {
    status = `token refused: ${identity.error}`;
  } else if (token) {
    status = 'checking the token…';
  }
  return (
    <header className="ev-bar">
      <strong className="ev-brand">Evenntify</strong>
      <form className="ev-token" onSubmit={(e) => e.preventDefault()}>
        <label htmlFor="ev-token">Access token</label>
        <input
          id="ev-token"
          type="password"
          autoComplete="off"
          spellCheck={false}
          placeholder="paste an accessToken (used for HTTP and WebSocket)"
          value={token}
          onChange={(e) => onToken(e.target.value)}
        />
      </form>
      {token && (
        <button type="button" onClick={() => onToken('')}>
          Clear
        </button>
      )}
      {offered && (
        <button type="button" className="ev-offer" onClick={() => onToken(offered.accessToken)}>
          Use token of {offered.username ?? 'this login'}
        </button>
      )}
      <span className="ev-status" id="ev-status">
        {status} · WebSocket: {socket}
      </span>
    </header>
  );
}

// Who the token belongs to, asked of the server (`me`) whenever the token changes.
function useIdentity(token) {
  const [identity, setIdentity] = useState(null);
  useEffect(() => {
    setIdentity(null);
    if (!token) return undefined;
    let cancelled = false;
    const timer = setTimeout(async () => {
      let found;
      try {
        const response = await fetch(config.endpoint, {
          method: 'POST',
          headers: {
            'content-type': 'application/json',
            accept: 'application/json',
            authorization: `Bearer ${token}`,
          },
          body: JSON.stringify({ query: 'query PlaygroundWhoAmI { me { username role } }' }),
        });
        const body = await response.json();
        const error = body.errors?.[0];
        found = body.data?.me ?? { error: error?.extensions?.code ?? error?.message ?? 'unknown' };
      } catch (e) {
        found = { error: String(e) };
      }
      if (!cancelled) setIdentity(found);
    }, 250);
    return () => {
      cancelled = true;
      clearTimeout(timer);
    };
  }, [token]);
  return identity;
}

// The first `{ accessToken, user }` object of a response (register, login, refreshToken).
function findAuthPayload(value) {
  if (!value || typeof value !== 'object') return null;
  if (typeof value.accessToken === 'string') {
    return { accessToken: value.accessToken, username: value.user?.username };
  }
  for (const child of Object.values(value)) {
    const found = findAuthPayload(child);
    if (found) return found;
  }
  return null;
}

// When the token expires, from its `exp` claim: shown to the user only (the server checks it).
function decodeClaims(token) {
  const part = token.split('.')[1];
  if (!part) return null;
  try {
    const json = atob(part.replace(/-/g, '+').replace(/_/g, '/'));
    const claims = JSON.parse(json);
    const exp = typeof claims.exp === 'number' ? new Date(claims.exp * 1000) : null;
    return {
      expired: exp ? exp < new Date() : false,
      until: exp ? exp.toLocaleTimeString() : 'no expiry',
    };
  } catch {
    return null;
  }
}

createRoot(root).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
