/**
 * Where the mitmscope package lives and its version, whether code runs from `src/` (tsx) or
 * from `dist/src/` (built): found by climbing to the package.json named mitmscope.
 */
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const PACKAGE_NAME = 'mitmscope';
/** src/x → root is 1–2 levels up, dist/src/x 2–3; a few more tolerate other layouts. */
const SEARCH_DEPTH = 5;

let found: { root: string; version: string } | null = null;

function locate(): { root: string; version: string } {
  if (found) return found;
  let dir = new URL('.', import.meta.url);
  for (let i = 0; i < SEARCH_DEPTH; i++) {
    try {
      const pkg: unknown = JSON.parse(readFileSync(new URL('package.json', dir), 'utf8'));
      if (typeof pkg === 'object' && pkg !== null && 'name' in pkg && pkg.name === PACKAGE_NAME && 'version' in pkg && typeof pkg.version === 'string') {
        found = { root: fileURLToPath(dir), version: pkg.version };
        return found;
      }
    } catch {
      // No (readable) package.json at this level: keep climbing.
    }
    dir = new URL('..', dir);
  }
  found = { root: fileURLToPath(new URL('..', import.meta.url)), version: '0.0.0' };
  return found;
}

/** Absolute path of the package root, with a trailing slash. */
export function packageRoot(): string {
  return locate().root;
}

export function packageVersion(): string {
  return locate().version;
}
