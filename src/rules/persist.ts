/**
 * Where rules survive a restart: a tiny load/save interface and a JSON-file implementation
 * (written to a temporary file and renamed, so a crash never leaves half a list; mode 0600,
 * since rules may hold tokens in headers or bodies).
 */
import { chmod, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { MitmError } from '../errors.js';
import type { Rule } from './types.js';
import { validateRules } from './validate.js';

export interface RuleStorage {
  /** The saved rules, or null when nothing was saved yet. */
  load(): Promise<Rule[] | null>;
  save(rules: readonly Rule[]): Promise<void>;
}

const FILE_MODE = 0o600;

/** Reads a JSON array of rules; errors name the file and, for a bad rule, its index and field. */
export async function readRulesFile(file: string): Promise<Rule[] | null> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new MitmError('MITM_ERR_RULES_IO', `${file} cannot be read: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (err) {
    throw new MitmError('MITM_ERR_RULE_INVALID', `${file} is not JSON: ${(err as Error).message}`);
  }
  return validateRules(json);
}

export class JsonFileRules implements RuleStorage {
  /** Saves run one after another: the last list written is the last list given. */
  private chain: Promise<void> = Promise.resolve();
  private seq = 0;

  constructor(readonly file: string) {}

  load(): Promise<Rule[] | null> {
    return readRulesFile(this.file);
  }

  save(rules: readonly Rule[]): Promise<void> {
    const text = `${JSON.stringify(rules, null, 2)}\n`;
    const run = async (): Promise<void> => {
      const tmp = `${this.file}.${process.pid}.${++this.seq}.tmp`;
      try {
        await mkdir(dirname(this.file), { recursive: true });
        await writeFile(tmp, text, { mode: FILE_MODE });
        await chmod(tmp, FILE_MODE);
        await rename(tmp, this.file);
      } catch (err) {
        throw new MitmError('MITM_ERR_RULES_IO', `${this.file} cannot be written: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
      }
    };
    const next = this.chain.then(run, run);
    this.chain = next.catch(() => undefined);
    return next;
  }
}
