import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { diffHeaders, diffJson, diffLines, parseJson, MAX_DIFF_LINES } from '../../ui/src/diff.js';

describe('compare diffs', () => {
  it('headers keep wire order and pair repeated names by rank, in any case', () => {
    const rows = diffHeaders(
      [['Host', 'a'], ['Accept', '*/*'], ['Cookie', 'x=1'], ['Cookie', 'y=2'], ['X-Old', '1']],
      [['host', 'a'], ['X-New', 'n'], ['Accept', 'text/html'], ['Cookie', 'x=1']],
    );
    assert.deepEqual(
      rows.map((r) => `${r.change} ${r.name} ${r.a ?? '∅'} ${r.b ?? '∅'}`),
      ['same Host a a', 'added X-New ∅ n', 'changed Accept */* text/html', 'same Cookie x=1 x=1', 'removed Cookie y=2 ∅', 'removed X-Old 1 ∅'],
    );
  });

  it('a B-only header before every shared one comes first', () => {
    assert.deepEqual(diffHeaders([['A', '1']], [['Z', '0'], ['A', '1']]).map((r) => r.change), ['added', 'same']);
  });

  it('line diff marks added and removed lines around common ones', () => {
    const d = diffLines('a\nb\nc\nd', 'a\nx\nc\nd\ne')!;
    assert.deepEqual(d.map((l) => `${l.change[0]}${l.text}`), ['sa', 'rb', 'ax', 'sc', 'sd', 'ae']);
    assert.equal(diffLines('x\n'.repeat(MAX_DIFF_LINES + 1), 'y'), null);
  });

  it('JSON differences are paths: changed, added and removed keys, array items', () => {
    const changes = diffJson({ user: { name: 'a', age: 3, 'odd key': 1 }, list: [1, 2, 3] }, { user: { name: 'b', age: 3, email: 'e' }, list: [1, 2] });
    assert.deepEqual(changes, [
      { path: '$.user.name', change: 'changed', a: 'a', b: 'b' },
      { path: '$.user["odd key"]', change: 'removed', a: 1 },
      { path: '$.user.email', change: 'added', b: 'e' },
      { path: '$.list[2]', change: 'removed', a: 3 },
    ]);
    assert.deepEqual(diffJson({ a: [1, { b: null }] }, { a: [1, { b: null }] }), []);
    assert.deepEqual(diffJson(1, '1'), [{ path: '$', change: 'changed', a: 1, b: '1' }]);
  });

  it('parseJson takes objects, arrays and strings, nothing else', () => {
    assert.deepEqual(parseJson(' {"a":1} '), { a: 1 });
    assert.equal(parseJson('12'), undefined);
    assert.equal(parseJson('{bad'), undefined);
    assert.equal(parseJson(''), undefined);
  });
});
