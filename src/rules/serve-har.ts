/**
 * Server replay (`--serve-har FILE`): requests that match a recorded entry — method and URL, and
 * the body for methods other than GET and HEAD — are answered from the HAR without contacting
 * the server. Repeats of one request get the recorded answers in order; once they are used up
 * the last one is repeated. Unmatched requests go upstream, or get a 404 with `strict`.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { basename } from 'node:path';
import { ConfigError } from '../errors.js';
import { harToFlows } from '../har/mapping.js';
import { fixLength, type ResponseDraft } from './edits.js';

const BODYLESS_METHODS = new Set(['GET', 'HEAD']);

function keyOf(method: string, url: string, body: Buffer): string {
  let href = url;
  try {
    href = new URL(url).href;
  } catch {
    // Not absolute: compared as written.
  }
  const upper = method.toUpperCase();
  return BODYLESS_METHODS.has(upper) ? `${upper} ${href}` : `${upper} ${href} ${createHash('sha256').update(body).digest('hex')}`;
}

export class HarReplay {
  private readonly answers = new Map<string, { list: ResponseDraft[]; next: number }>();

  private constructor(
    readonly name: string,
    readonly strict: boolean,
  ) {}

  static async load(file: string, strict: boolean): Promise<HarReplay> {
    let text: string;
    try {
      text = await readFile(file, 'utf8');
    } catch (err) {
      throw new ConfigError(`--serve-har ${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
    }
    const replay = new HarReplay(basename(file), strict);
    try {
      for (const flow of harToFlows(text)) {
        const r = flow.response;
        if (flow.kind !== 'http' || !r || r.status === 0) continue;
        const key = keyOf(flow.request.method, flow.request.url, flow.request.body);
        const answer: ResponseDraft = { status: r.status, statusText: r.statusText, headers: fixLength(r.headers, r.body, true), body: r.body };
        const entry = replay.answers.get(key);
        if (entry) entry.list.push(answer);
        else replay.answers.set(key, { list: [answer], next: 0 });
      }
    } catch (err) {
      throw new ConfigError(`--serve-har ${file}: ${(err as Error).message}`);
    }
    return replay;
  }

  /** The next recorded answer for this request; with `strict`, a 404 when there is none; else null. */
  take(method: string, url: string, body: Buffer): ResponseDraft | null {
    const entry = this.answers.get(keyOf(method, url, body));
    if (entry) {
      const answer = entry.list[Math.min(entry.next, entry.list.length - 1)]!;
      entry.next += 1;
      return { ...answer, headers: answer.headers.map(([n, v]) => [n, v]) };
    }
    if (!this.strict) return null;
    const text = Buffer.from(`mitmscope: ${method} ${url} is not in ${this.name}\n`, 'utf8');
    return { status: 404, statusText: '', headers: fixLength([['Content-Type', 'text/plain; charset=utf-8']], text, true), body: text };
  }
}
