/**
 * The editor of an intercepted exchange: a paused request (method, URL, headers, body), a paused
 * response (status, headers, body), or a request to resend. Everything is edited as plain text
 * in form fields; nothing captured is ever interpreted as markup.
 */
import { useEffect, useState } from 'preact/hooks';
import { abortFlow, bodyUrl, replayFlow, resumeFlow, type Edits } from './api.js';
import { notify, openFlow } from './state.js';
import type { FlowDetail, Header } from './types.js';

export type EditorMode = 'request' | 'response' | 'resend';

/** The captured body as editable text; null when it is not UTF-8 (left unchanged unless replaced). */
type BodyText = { state: 'loading' } | { state: 'text'; text: string } | { state: 'binary' } | { state: 'failed'; message: string };

function useBodyText(id: string, side: 'request' | 'response'): BodyText {
  const [body, setBody] = useState<BodyText>({ state: 'loading' });
  useEffect(() => {
    const controller = new AbortController();
    fetch(bodyUrl(id, side), { credentials: 'same-origin', signal: controller.signal })
      .then(async (res) => {
        if (res.status === 404) return setBody({ state: 'text', text: '' });
        if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
        const bytes = new Uint8Array(await res.arrayBuffer());
        try {
          setBody({ state: 'text', text: new TextDecoder('utf-8', { fatal: true }).decode(bytes) });
        } catch {
          setBody({ state: 'binary' });
        }
      })
      .catch((err: unknown) => {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        setBody({ state: 'failed', message: err instanceof Error ? err.message : String(err) });
      });
    return () => controller.abort();
  }, [id, side]);
  return body;
}

function HeadersEditor({ headers, onChange }: { headers: Header[]; onChange: (h: Header[]) => void }) {
  const set = (i: number, part: 0 | 1, value: string) => onChange(headers.map((h, j): Header => (j !== i ? h : part === 0 ? [value, h[1]] : [h[0], value])));
  return (
    <table class="headers edit" aria-label="Headers">
      <tbody>
        {headers.map(([name, value], i) => (
          <tr key={i}>
            <td>
              <input aria-label={`Header ${i + 1} name`} value={name} spellcheck={false} onInput={(e) => set(i, 0, e.currentTarget.value)} />
            </td>
            <td>
              <input aria-label={`Header ${i + 1} value`} value={value} spellcheck={false} onInput={(e) => set(i, 1, e.currentTarget.value)} />
            </td>
            <td>
              <button type="button" class="icon" aria-label={`Remove header ${name}`} onClick={() => onChange(headers.filter((_, j) => j !== i))}>
                ×
              </button>
            </td>
          </tr>
        ))}
        <tr>
          <td colSpan={3}>
            <button type="button" class="link" onClick={() => onChange([...headers, ['', '']])}>
              add header
            </button>
          </td>
        </tr>
      </tbody>
    </table>
  );
}

function failed(what: string, err: unknown): void {
  notify('error', `${what}: ${err instanceof Error ? err.message : String(err)}`);
}

export function ExchangeEditor({ flow, mode, onDone }: { flow: FlowDetail; mode: EditorMode; onDone?: () => void }) {
  const side = mode === 'response' ? 'response' : 'request';
  const message = side === 'response' ? flow.response : flow.request;
  const [method, setMethod] = useState(flow.request.method);
  const [url, setUrl] = useState(flow.request.url);
  const [status, setStatus] = useState(String(flow.response?.status ?? 200));
  const [headers, setHeaders] = useState<Header[]>(message?.headers.map(([n, v]): Header => [n, v]) ?? []);
  const loaded = useBodyText(flow.id, side);
  const [body, setBody] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const text = body ?? (loaded.state === 'text' ? loaded.text : '');

  const edits = (): Edits => {
    const out: Edits = { headers: headers.filter(([n]) => n.trim() !== '') };
    if (side === 'request') {
      out.method = method;
      out.url = url;
    } else {
      out.status = Number(status);
    }
    // An untouched body is left to the server: it holds the bytes, the page may hold a preview.
    if (body !== null) out.body = body;
    return out;
  };
  const run = (what: string, action: () => Promise<unknown>) => {
    setBusy(true);
    action().then(
      () => {
        setBusy(false);
        onDone?.();
      },
      (err: unknown) => {
        setBusy(false);
        failed(what, err);
      },
    );
  };

  const resend = () =>
    run('Could not resend', async () => {
      const { id } = await replayFlow(flow.id, edits());
      openFlow(id, 'response');
    });

  return (
    <form class="editor" aria-label={mode === 'resend' ? 'Edit and resend' : `Paused ${side}`} onSubmit={(e) => e.preventDefault()}>
      {side === 'request' ? (
        <div class="editor-line">
          <input class="method-input" aria-label="Method" value={method} spellcheck={false} onInput={(e) => setMethod(e.currentTarget.value)} />
          <input class="url-input" aria-label="URL" value={url} spellcheck={false} onInput={(e) => setUrl(e.currentTarget.value)} />
        </div>
      ) : (
        <div class="editor-line">
          <label>
            Status <input class="status-input" aria-label="Status" inputMode="numeric" value={status} onInput={(e) => setStatus(e.currentTarget.value)} />
          </label>
        </div>
      )}
      <HeadersEditor headers={headers} onChange={setHeaders} />
      {loaded.state === 'binary' && body === null ? (
        <p class="muted">
          The body is binary: it is sent unchanged.{' '}
          <button type="button" class="link" onClick={() => setBody('')}>
            replace it with text
          </button>
        </p>
      ) : (
        <textarea
          class="body-input"
          aria-label="Body"
          spellcheck={false}
          value={loaded.state === 'loading' ? '' : text}
          disabled={loaded.state === 'loading'}
          placeholder={loaded.state === 'failed' ? `Could not load the body (${loaded.message}); what you type here replaces it` : ''}
          onInput={(e) => setBody(e.currentTarget.value)}
        />
      )}
      <div class="editor-actions">
        {mode === 'resend' ? (
          <>
            <button type="button" class="primary" disabled={busy} onClick={resend}>
              Send
            </button>
            <button type="button" disabled={busy} onClick={() => onDone?.()}>
              Cancel
            </button>
          </>
        ) : (
          <>
            <button type="button" disabled={busy} onClick={() => run('Could not resume', () => resumeFlow(flow.id))}>
              Resume
            </button>
            <button type="button" class="primary" disabled={busy} onClick={() => run('Could not resume', () => resumeFlow(flow.id, edits()))}>
              Resume with edits
            </button>
            <button type="button" class="danger" disabled={busy} onClick={() => run('Could not abort', () => abortFlow(flow.id))}>
              Abort
            </button>
          </>
        )}
      </div>
    </form>
  );
}
