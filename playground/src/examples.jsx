// The "Examples" sidebar plugin: every saved operation of playground/*.graphql (served by the
// server at /graphiql/operations.json), grouped by kind; one click opens it in a new tab with
// its example variables.

import { useEffect, useState } from 'react';
import { useGraphiQL, useGraphiQLActions } from '@graphiql/react';
import { parse } from 'graphql';
import { EXAMPLE_VARIABLES } from './variables.js';

const KINDS = [
  ['query', 'Queries'],
  ['mutation', 'Mutations'],
  ['subscription', 'Subscriptions'],
];

export function examplesPlugin(operationsUrl) {
  return {
    title: 'Examples',
    icon: ExamplesIcon,
    content: () => <Examples url={operationsUrl} />,
  };
}

function Examples({ url }) {
  const [operations, setOperations] = useState(null);
  const [error, setError] = useState(null);
  const { queryEditor, variableEditor } = useGraphiQL((s) => ({
    queryEditor: s.queryEditor,
    variableEditor: s.variableEditor,
  }));
  const { addTab, setOperationName } = useGraphiQLActions();

  useEffect(() => {
    fetch(url)
      .then((r) => (r.ok ? r.json() : Promise.reject(new Error(`HTTP ${r.status}`))))
      .then((list) => setOperations(list.map(describe)))
      .catch((e) => setError(String(e)));
  }, [url]);

  const open = (operation) => {
    addTab();
    queryEditor?.setValue(operation.source);
    // GraphiQL re-reads the operation name from the editor only after a debounce: set it now,
    // or a quick ▶ would send the previous tab's operation name with this document.
    setOperationName(operation.operationName);
    const variables = EXAMPLE_VARIABLES[operation.name] ?? {};
    variableEditor?.setValue(JSON.stringify(variables, null, 2));
  };

  if (error) return <p className="ev-examples-error">Cannot load the examples: {error}</p>;
  if (!operations) return <p>Loading…</p>;
  return (
    <div className="ev-examples">
      <div className="graphiql-doc-explorer-title">Examples</div>
      <p className="ev-examples-hint">
        Saved operations from <code>playground/</code>. A click opens one in a new tab with
        example variables; replace each <code>&lt;…&gt;</code> with a value from an earlier
        answer. Paste your access token in the bar above first.
      </p>
      {KINDS.map(([kind, heading]) => {
        const list = operations.filter((o) => o.kind === kind);
        if (list.length === 0) return null;
        return (
          <section key={kind}>
            <h3>{heading}</h3>
            <ul>
              {list.map((o) => (
                <li key={o.file}>
                  <button
                    type="button"
                    className="ev-example"
                    data-operation={o.name}
                    title={o.summary}
                    onClick={() => open(o)}
                  >
                    <span className="ev-example-name">{o.operationName}</span>
                    <span className="ev-example-summary">{o.summary}</span>
                  </button>
                </li>
              ))}
            </ul>
          </section>
        );
      })}
    </div>
  );
}

// Kind and name from the document, summary from its leading `#` comment lines.
function describe({ file, source }) {
  const name = file.replace(/\.graphql$/, '');
  let kind = 'query';
  let operationName = name;
  try {
    const definition = parse(source).definitions.find((d) => d.kind === 'OperationDefinition');
    kind = definition?.operation ?? kind;
    operationName = definition?.name?.value ?? name;
  } catch {
    // Shown anyway: GraphiQL will point at the syntax error.
  }
  const comment = [];
  for (const line of source.split('\n')) {
    if (!line.startsWith('#')) break;
    comment.push(line.replace(/^#\s?/, ''));
  }
  return { file, name, source, kind, operationName, summary: comment.join(' ') };
}

function ExamplesIcon() {
  return (
    <svg viewBox="0 0 24 24" fill="none" stroke="currentColor" strokeWidth="1.5" aria-hidden="true">
      <path d="M5 4h11l3 3v13H5z" strokeLinejoin="round" />
      <path d="M8 10h8M8 13.5h8M8 17h5" strokeLinecap="round" />
    </svg>
  );
}
