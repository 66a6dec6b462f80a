/**
 * One message of an exchange (request or response): the start line, headers in wire order with their original case,
 * trailers, and the body.
 */
import { BodyView } from './body-view.js';
import type { FlowDetail, Header } from './types.js';

function headerType(headers: readonly Header[]): string | null {
  for (const [k, v] of headers) if (k.toLowerCase() === 'content-type') return v;
  return null;
}

function HeaderTable({ headers, label }: { headers: readonly Header[]; label: string }) {
  if (headers.length === 0) return <p class="muted">No {label.toLowerCase()}.</p>;
  return (
    <table class="headers" aria-label={label}>
      <tbody>
        {headers.map(([name, value], i) => (
          <tr key={i}>
            <th scope="row">{name}</th>
            <td>{value}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

export function MessageView({ flow, side }: { flow: FlowDetail; side: 'request' | 'response' }) {
  if (side === 'response' && flow.response === null) {
    return <p class="muted pad">{flow.state === 'pending' ? 'Waiting for the response…' : 'No response was received.'}</p>;
  }
  const msg = side === 'request' ? flow.request : flow.response!;
  const startLine =
    side === 'request'
      ? `${flow.request.method} ${flow.request.url} HTTP/${flow.request.httpVersion}`
      : `HTTP/${msg.httpVersion} ${flow.response!.status} ${flow.response!.statusText}`;
  return (
    <div class="message" data-side={side}>
      <div class="start-line">{startLine}</div>
      <h3>
        Headers <span class="count">{msg.headers.length}</span>
      </h3>
      <HeaderTable headers={msg.headers} label="Headers" />
      {msg.trailers.length > 0 ? (
        <>
          <h3>
            Trailers <span class="count">{msg.trailers.length}</span>
          </h3>
          <HeaderTable headers={msg.trailers} label="Trailers" />
        </>
      ) : null}
      <BodyView
        key={`${flow.id}/${side}/${msg.bodySize}`}
        flowId={flow.id}
        side={side}
        size={msg.bodySize}
        truncated={msg.bodyTruncated}
        contentType={headerType(msg.headers)}
      />
    </div>
  );
}
