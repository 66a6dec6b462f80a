/**
 * A captured body, fetched lazily from the body endpoint (decoded) and shown as text: pretty
 * JSON/XML, HTML as its source, forms as a table, raster images from a blob URL made of the
 * fetched bytes, and a hex dump for anything else. Captured bytes never become markup or a URL.
 */
import { useEffect, useMemo, useState } from 'preact/hooks';
import { bodyUrl, fetchBody, type BodyBytes, type BodySide } from './api.js';
import { classifyBody, decodeText, mimeEssence, parseForm, prettyJson, prettyXml, RASTER_IMAGE_TYPES, type BodyKind } from './body-format.js';
import { formatCount, formatSize, hexDump } from './format.js';

/** Characters rendered before asking: a 1 MB single text node is fine, 60 MB is not. */
const MAX_TEXT_CHARS = 256 * 1024;
/** Bytes per hex page (4,096 lines). */
const HEX_PAGE_BYTES = 64 * 1024;

type View = 'pretty' | 'raw' | 'hex';

interface BodyProps {
  flowId: string;
  side: BodySide;
  size: number;
  truncated: boolean;
  contentType: string | null;
}

type Load = { state: 'loading' } | { state: 'ok'; body: BodyBytes } | { state: 'failed'; message: string };

function useBody(flowId: string, side: BodySide, wanted: boolean): Load {
  const [load, setLoad] = useState<Load>({ state: 'loading' });
  useEffect(() => {
    if (!wanted) return undefined;
    const controller = new AbortController();
    fetchBody(flowId, side, controller.signal).then(
      (body) => setLoad({ state: 'ok', body }),
      (err: unknown) => {
        if (err instanceof DOMException && err.name === 'AbortError') return;
        setLoad({ state: 'failed', message: err instanceof Error ? err.message : String(err) });
      },
    );
    return () => controller.abort();
  }, [flowId, side, wanted]);
  return load;
}

function LongText({ text, className }: { text: string; className?: string }) {
  const [all, setAll] = useState(false);
  const cut = !all && text.length > MAX_TEXT_CHARS;
  return (
    <>
      <pre class={`body-text ${className ?? ''}`}>{cut ? text.slice(0, MAX_TEXT_CHARS) : text}</pre>
      {cut ? (
        <button class="more" onClick={() => setAll(true)}>
          Show all {formatCount(text.length)} characters
        </button>
      ) : null}
    </>
  );
}

function HexView({ bytes }: { bytes: Uint8Array }) {
  const [shown, setShown] = useState(HEX_PAGE_BYTES);
  const dump = useMemo(() => hexDump(bytes, 0, shown), [bytes, shown]);
  return (
    <>
      <pre class="body-text hex">{dump}</pre>
      {shown < bytes.length ? (
        <button class="more" onClick={() => setShown(shown + HEX_PAGE_BYTES)}>
          Show the next {formatSize(Math.min(HEX_PAGE_BYTES, bytes.length - shown))} ({formatSize(bytes.length - shown)} left)
        </button>
      ) : null}
    </>
  );
}

function ImageView({ bytes, mime }: { bytes: Uint8Array; mime: string }) {
  const [url, setUrl] = useState<string | null>(null);
  const [dims, setDims] = useState<string>('');
  useEffect(() => {
    // The blob's type comes from our allow-list, so the browser decodes it as an image only.
    const type = RASTER_IMAGE_TYPES.has(mime) ? mime : 'application/octet-stream';
    const u = URL.createObjectURL(new Blob([bytes as Uint8Array<ArrayBuffer>], { type }));
    setUrl(u);
    return () => URL.revokeObjectURL(u);
  }, [bytes, mime]);
  if (url === null) return null;
  return (
    <figure class="image">
      <img
        src={url}
        alt="Captured image"
        onLoad={(e) => {
          const img = e.currentTarget;
          setDims(`${img.naturalWidth} × ${img.naturalHeight} px`);
        }}
        onError={() => setDims('the browser could not decode this image')}
      />
      <figcaption class="muted">{dims}</figcaption>
    </figure>
  );
}

function FormView({ text }: { text: string }) {
  const pairs = parseForm(text);
  return (
    <table class="headers form" aria-label="Form fields">
      <tbody>
        {pairs.map(([k, v], i) => (
          <tr key={i}>
            <th scope="row">{k}</th>
            <td>{v}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

const KIND_LABEL: Record<BodyKind, string> = {
  empty: 'empty',
  json: 'JSON',
  xml: 'XML',
  html: 'HTML source',
  form: 'form data',
  image: 'image',
  text: 'text',
  binary: 'binary',
};

function Pretty({ kind, text, bytes, mime }: { kind: BodyKind; text: string | null; bytes: Uint8Array; mime: string }) {
  switch (kind) {
    case 'image':
      return <ImageView bytes={bytes} mime={mime} />;
    case 'json':
      return <LongText text={prettyJson(text ?? '') ?? text ?? ''} className="json" />;
    case 'xml':
      return <LongText text={prettyXml(text ?? '')} className="xml" />;
    case 'form':
      return <FormView text={text ?? ''} />;
    case 'binary':
      return <HexView bytes={bytes} />;
    default:
      return <LongText text={text ?? ''} />;
  }
}

export function BodyView({ flowId, side, size, truncated, contentType }: BodyProps) {
  const [view, setView] = useState<View>('pretty');
  const load = useBody(flowId, side, size > 0);
  const body = load.state === 'ok' ? load.body : null;
  const text = useMemo(() => (body ? decodeText(body.bytes) : null), [body]);
  const type = body?.contentType ?? contentType;
  const kind = body ? classifyBody(type, body.bytes, text) : 'empty';

  const head = (
    <div class="body-head">
      <h3>
        Body <span class="count">{formatSize(size)}</span>
      </h3>
      {type ? <span class="muted mono">{type}</span> : null}
      {body && kind !== 'empty' ? <span class="pill">{KIND_LABEL[kind]}</span> : null}
      <span class="spacer" />
      {body && body.bytes.length > 0 ? (
        <div class="segmented" role="group" aria-label="Body view">
          {(['pretty', 'raw', 'hex'] as const).map((v) => (
            <button key={v} class={view === v ? 'active' : ''} aria-pressed={view === v} onClick={() => setView(v)}>
              {v === 'pretty' ? (kind === 'image' ? 'Image' : 'Pretty') : v === 'raw' ? 'Raw' : 'Hex'}
            </button>
          ))}
        </div>
      ) : null}
      {size > 0 ? (
        <a class="btn" href={bodyUrl(flowId, side, { decode: true })} download>
          Download
        </a>
      ) : null}
    </div>
  );

  if (size === 0) {
    return (
      <div class="body">
        {head}
        <p class="muted">No body.</p>
      </div>
    );
  }
  return (
    <div class="body">
      {head}
      {truncated || body?.truncated ? (
        <div class="banner warn">
          Truncated: only the first bytes of {formatSize(size)} were kept (raise <code>--max-body</code> to capture more).
        </div>
      ) : null}
      {body?.decode === 'partial' ? <div class="banner warn">The content encoding could be undone only partly.</div> : null}
      {body?.decode === 'unsupported' || body?.decode === 'failed' ? (
        <div class="banner warn">Shown as captured: the {body.encoding ?? 'content'} encoding could not be undone.</div>
      ) : null}
      {load.state === 'loading' ? <p class="muted">Loading body…</p> : null}
      {load.state === 'failed' ? <div class="banner error">Could not load the body: {load.message}</div> : null}
      {body ? (
        view === 'hex' || (view === 'raw' && text === null) ? (
          <HexView bytes={body.bytes} />
        ) : view === 'raw' ? (
          <LongText text={text ?? ''} />
        ) : (
          <Pretty kind={kind} text={text} bytes={body.bytes} mime={mimeEssence(type)} />
        )
      ) : null}
    </div>
  );
}
