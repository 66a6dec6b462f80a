import assert from 'node:assert/strict';
import { readdir, readFile, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { buildUi, isStale, uiRoot } from '../../ui/build.js';

describe('ui build', () => {
  const outDir = join(tmpdir(), `mitmscope-ui-build-${process.pid}`);
  after(() => rm(outDir, { recursive: true, force: true }));

  it('bundles one script and one stylesheet that index.html references, nothing inline', async () => {
    const result = await buildUi({ outDir, force: true });
    assert.deepEqual(result, { built: true, outDir });
    const files = await readdir(outDir);
    const js = files.filter((f) => /^app-[A-Z0-9]+\.js$/.test(f));
    const css = files.filter((f) => /^styles-[A-Z0-9]+\.css$/.test(f));
    assert.equal(js.length, 1);
    assert.equal(css.length, 1);
    const html = await readFile(join(outDir, 'index.html'), 'utf8');
    assert.ok(html.includes(`<script type="module" src="./${js[0]}"></script>`));
    assert.ok(html.includes(`<link rel="stylesheet" href="./${css[0]}" />`));
    // The dashboard's CSP allows neither inline script nor inline style.
    assert.doesNotMatch(html, /<script(?![^>]*\bsrc=)[^>]*>/);
    assert.doesNotMatch(html, /<style|style=/);
  });

  it('has no source that turns a string into markup', async () => {
    const dir = join(uiRoot(), 'src');
    for (const file of await readdir(dir)) {
      const text = await readFile(join(dir, file), 'utf8');
      const hit = /dangerouslySetInnerHTML|innerHTML|outerHTML|insertAdjacentHTML|document\.write|createContextualFragment|DOMParser/.exec(text);
      assert.equal(hit, null, `${file} uses ${hit?.[0]}`);
    }
  });

  it('skips the build while the output is newer than every source', async () => {
    assert.equal(await isStale(uiRoot(), outDir), false);
    assert.deepEqual(await buildUi({ outDir }), { built: false, outDir });
  });

  it('rebuilds once a source is newer than the output', async () => {
    const old = new Date(1000);
    await utimes(join(outDir, 'index.html'), old, old);
    assert.equal(await isStale(uiRoot(), outDir), true);
    assert.equal((await buildUi({ outDir })).built, true);
  });
});
