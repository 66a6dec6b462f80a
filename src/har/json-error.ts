/**
 * Where JSON text first goes wrong. V8's JSON.parse messages name a position only for some
 * errors (`Unexpected token 'x', "…" is not valid JSON` does not), and users fixing a hand-edited
 * HAR need one every time. Run only after JSON.parse failed; iterative, so deep nesting is fine.
 */

export interface JsonSyntaxError {
  /** Offset in UTF-16 code units, as String indices count. */
  offset: number;
  line: number;
  column: number;
  reason: string;
}

type Expect = 'value' | 'value-or-end' | 'key' | 'key-or-end' | 'colon' | 'comma-or-end' | 'eof';

const NUMBER = /-?(?:0|[1-9]\d*)(?:\.\d+)?(?:[eE][+-]?\d+)?/y;
/** Any start of a number, matched only when it runs to the end of the text. */
const NUMBER_PREFIX = /-?\d*(?:\.\d*)?(?:[eE][+-]?\d*)?$/y;
const ESCAPES = new Set(['"', '\\', '/', 'b', 'f', 'n', 'r', 't']);
const HEX4 = /^[0-9a-fA-F]{4}$/;

function describe(text: string, i: number): string {
  return i >= text.length ? 'unexpected end of input' : `unexpected ${JSON.stringify(text[i])}`;
}

/** Index after the string starting at `i` (a `"`), or the error. */
function scanString(text: string, i: number): number | { at: number; reason: string } {
  let j = i + 1;
  for (;;) {
    if (j >= text.length) return { at: j, reason: 'unterminated string' };
    const c = text.charCodeAt(j);
    if (c === 0x22) return j + 1;
    if (c < 0x20) return { at: j, reason: 'control character in string' };
    if (c === 0x5c) {
      const e = text[j + 1];
      // An escape the text ends in the middle of is a cut, not a wrong escape.
      if (e === undefined || (e === 'u' && j + 6 > text.length && /^[0-9a-fA-F]*$/.test(text.slice(j + 2)))) return { at: text.length, reason: 'unterminated string' };
      if (e === 'u') {
        if (!HEX4.test(text.slice(j + 2, j + 6))) return { at: j, reason: 'bad \\u escape' };
        j += 6;
      } else if (e !== undefined && ESCAPES.has(e)) j += 2;
      else return { at: j, reason: 'bad escape' };
    } else j++;
  }
}

function position(text: string, offset: number, reason: string): JsonSyntaxError {
  let line = 1;
  let lineStart = 0;
  for (let k = text.indexOf('\n'); k >= 0 && k < offset; k = text.indexOf('\n', k + 1)) {
    line++;
    lineStart = k + 1;
  }
  return { offset, line, column: offset - lineStart + 1, reason };
}

/**
 * Told of every point where the text could be closed: just after a `{` or `[` opens, and just after
 * a value ends. `depth` counts the containers open there (the root object's members are at 1);
 * `end` is the offset just past the bracket or the value.
 */
export type JsonBoundary = (depth: number, end: number) => void;

/** The first syntax error in `text`, or null when it is valid JSON. */
export function findJsonSyntaxError(text: string, boundary?: JsonBoundary): JsonSyntaxError | null {
  const stack: ('{' | '[')[] = [];
  let expect: Expect = 'value';
  let i = 0;
  const afterValue = (): Expect => {
    boundary?.(stack.length, i);
    return stack.length === 0 ? 'eof' : 'comma-or-end';
  };
  for (;;) {
    while (i < text.length && (text[i] === ' ' || text[i] === '\t' || text[i] === '\n' || text[i] === '\r')) i++;
    if (i >= text.length) return expect === 'eof' ? null : position(text, i, 'unexpected end of input');
    const c = text[i]!;
    switch (expect) {
      case 'eof':
        return position(text, i, `${describe(text, i)} after the end of the document`);
      case 'colon':
        if (c !== ':') return position(text, i, `${describe(text, i)}, expected ':'`);
        i++;
        expect = 'value';
        continue;
      case 'comma-or-end': {
        const top = stack[stack.length - 1];
        if (c === ',') {
          i++;
          expect = top === '{' ? 'key' : 'value';
        } else if ((top === '{' && c === '}') || (top === '[' && c === ']')) {
          stack.pop();
          i++;
          expect = afterValue();
        } else return position(text, i, `${describe(text, i)}, expected ',' or '${top === '{' ? '}' : ']'}'`);
        continue;
      }
      case 'key':
      case 'key-or-end': {
        if (expect === 'key-or-end' && c === '}') {
          stack.pop();
          i++;
          expect = afterValue();
          continue;
        }
        if (c !== '"') return position(text, i, `${describe(text, i)}, expected a property name`);
        const end = scanString(text, i);
        if (typeof end !== 'number') return position(text, end.at, end.reason);
        i = end;
        expect = 'colon';
        continue;
      }
      case 'value':
      case 'value-or-end': {
        if (expect === 'value-or-end' && c === ']') {
          stack.pop();
          i++;
          expect = afterValue();
          continue;
        }
        if (c === '{' || c === '[') {
          stack.push(c);
          i++;
          boundary?.(stack.length, i);
          expect = c === '{' ? 'key-or-end' : 'value-or-end';
          continue;
        }
        if (c === '"') {
          const end = scanString(text, i);
          if (typeof end !== 'number') return position(text, end.at, end.reason);
          i = end;
          expect = afterValue();
          continue;
        }
        const literal = ['true', 'false', 'null'].find((w) => w[0] === c);
        if (literal) {
          let k = 0;
          while (k < literal.length && text[i + k] === literal[k]) k++;
          if (k < literal.length) return position(text, i + k, describe(text, i + k));
          i += k;
          expect = afterValue();
          continue;
        }
        NUMBER.lastIndex = i;
        const m = NUMBER.exec(text);
        NUMBER_PREFIX.lastIndex = i;
        const prefix = NUMBER_PREFIX.exec(text);
        // `40.` or `1e` at the very end is a number the text was cut in, not a wrong one.
        if (prefix && prefix[0].length > (m?.[0].length ?? 0)) return position(text, text.length, 'unexpected end of input');
        if (!m) return position(text, i, `${describe(text, i)}, expected a value`);
        i += m[0].length;
        expect = afterValue();
        continue;
      }
    }
  }
}
