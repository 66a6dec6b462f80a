/**
 * "Copy as" in the detail pane: a menu button (keyboard `c` opens it) whose items write the
 * open flow's request as a command to the clipboard and show it as text below, so it can also be
 * selected by hand where the clipboard is not available.
 */
import { signal } from '@preact/signals';
import { useEffect, useRef, useState } from 'preact/hooks';
import { bodyUrl } from './api.js';
import { COPY_FORMATS, copyAs, type CopyFormat } from './copy-as.js';
import type { FlowDetail } from './types.js';

/** Set by the `c` shortcut; the open flow's menu opens and focuses its first item. */
export const copyMenuRequested = signal(0);

type Output = { format: CopyFormat; text: string; copied: boolean } | { format: CopyFormat; error: string };

/** The request body exactly as it was sent (still content-encoded): a copied command must resend the same bytes. */
async function rawRequestBody(id: string): Promise<{ bytes: Uint8Array; truncated: boolean }> {
  const res = await fetch(bodyUrl(id, 'request'), { credentials: 'same-origin' });
  if (!res.ok) throw new Error(`could not read the request body (${res.status})`);
  return { bytes: new Uint8Array(await res.arrayBuffer()), truncated: res.headers.get('X-Mitmscope-Truncated') === '1' };
}

export function CopyMenu({ flow }: { flow: FlowDetail }) {
  const [open, setOpen] = useState(false);
  const [output, setOutput] = useState<Output | null>(null);
  const button = useRef<HTMLButtonElement>(null);
  const menu = useRef<HTMLDivElement>(null);
  const requested = copyMenuRequested.value;
  const seen = useRef(requested);

  useEffect(() => {
    if (requested === seen.current) return;
    seen.current = requested;
    setOpen(true);
  }, [requested]);
  useEffect(() => {
    if (open) menu.current?.querySelector<HTMLButtonElement>('[role="menuitem"]')?.focus();
  }, [open]);

  const choose = async (format: CopyFormat) => {
    setOpen(false);
    button.current?.focus();
    try {
      const body = flow.request.bodySize > 0 ? await rawRequestBody(flow.id) : { bytes: new Uint8Array(), truncated: false };
      const text = copyAs(format, { method: flow.request.method, url: flow.request.url, headers: flow.request.headers, body: body.bytes, bodyTruncated: body.truncated || flow.request.bodyTruncated });
      let copied = false;
      try {
        await navigator.clipboard.writeText(text);
        copied = true;
      } catch {
        // No clipboard permission (an http:// page, a headless browser): the text is shown to select.
      }
      setOutput({ format, text, copied });
    } catch (err) {
      setOutput({ format, error: err instanceof Error ? err.message : String(err) });
    }
  };

  const onMenuKey = (e: KeyboardEvent) => {
    const items = [...(menu.current?.querySelectorAll<HTMLButtonElement>('[role="menuitem"]') ?? [])];
    const at = items.indexOf(document.activeElement as HTMLButtonElement);
    if (e.key === 'ArrowDown' || e.key === 'ArrowUp') {
      e.preventDefault();
      e.stopPropagation();
      const next = (at + (e.key === 'ArrowDown' ? 1 : -1) + items.length) % items.length;
      items[next]?.focus();
    } else if (e.key === 'Escape') {
      e.stopPropagation();
      setOpen(false);
      button.current?.focus();
    } else if (e.key === 'Tab') {
      setOpen(false);
    }
  };

  const label = COPY_FORMATS.find((f) => f.format === output?.format)?.label ?? '';
  return (
    <div class="copy-as">
      <button ref={button} class="btn" aria-haspopup="menu" aria-expanded={open} title="Copy the request as a command (c)" onClick={() => setOpen(!open)}>
        Copy as… <span aria-hidden="true">▾</span>
      </button>
      {open ? (
        <div class="menu" role="menu" aria-label="Copy the request as" ref={menu} onKeyDown={onMenuKey}>
          {COPY_FORMATS.map((f) => (
            <button key={f.format} role="menuitem" class="menu-item" data-format={f.format} onClick={() => void choose(f.format)}>
              {f.label}
            </button>
          ))}
        </div>
      ) : null}
      {output ? (
        <div class="copy-output" role="region" aria-label={`Request as ${label}`}>
          <p role="status" class="muted small">
            {'error' in output ? `Could not copy: ${output.error}` : output.copied ? `Copied as ${label}.` : `${label} (select and copy):`}
            <button class="icon" aria-label="Close the copied command" title="Close" onClick={() => setOutput(null)}>
              ×
            </button>
          </p>
          {'text' in output ? <pre class="copy-text" tabIndex={0}>{output.text}</pre> : null}
        </div>
      ) : null}
    </div>
  );
}
