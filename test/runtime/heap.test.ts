import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { CHECK_BYTES, EXTERNAL_SLACK_BYTES } from '../../src/runtime/heap.js';

const child = fileURLToPath(new URL('./heap-child.ts', import.meta.url));
const MiB = 2 ** 20;

interface Seen {
  maxExternal: number;
  maxNewSpace: number;
  collections: number;
}

function run(mode: 'tuned' | 'default'): Promise<Seen> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, ['--import', 'tsx', child, mode, '256'], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr.on('data', (d: Buffer) => (err += d.toString()));
    p.once('error', reject);
    p.once('exit', (code) => {
      if (code !== 0) return reject(new Error(`heap child (${mode}) exited ${code}: ${err}`));
      resolve(JSON.parse(out.trim().split('\n').pop()!) as Seen);
    });
  });
}

test('bodies streaming through a tuned process leave little dead Buffer memory and a small young generation', async () => {
  const [tuned, plain] = await Promise.all([run('tuned'), run('default')]);
  const f = (n: number): string => `${(n / MiB).toFixed(1)} MiB`;
  // Tuned, a young-generation collection frees dead Buffers once the slack is passed; untuned,
  // they pile up until V8's own external-memory trigger.
  assert.ok(tuned.collections > 0, 'no paced collection happened');
  assert.ok(tuned.maxExternal <= EXTERNAL_SLACK_BYTES + 3 * CHECK_BYTES, `tuned external peak ${f(tuned.maxExternal)} (untuned ${f(plain.maxExternal)})`);
  assert.ok(plain.maxExternal > tuned.maxExternal, `untuned external peak ${f(plain.maxExternal)} vs tuned ${f(tuned.maxExternal)}`);
  // The young generation keeps its initial size instead of growing to V8's maximum.
  assert.ok(tuned.maxNewSpace <= 4 * MiB, `tuned new space ${f(tuned.maxNewSpace)}`);
  assert.ok(plain.maxNewSpace > tuned.maxNewSpace, `untuned new space ${f(plain.maxNewSpace)} vs tuned ${f(tuned.maxNewSpace)}`);
});
