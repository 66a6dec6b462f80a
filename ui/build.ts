/**
 * Builds the dashboard into ui/dist/: one hashed JS bundle (Preact + the app), one hashed CSS
 * file and index.html pointing at them — no inline script or style, as the dashboard's CSP
 * demands. Skips the work when no source is newer than the last build ("build when stale").
 *
 *   node --import tsx ui/build.ts [--force]
 */
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rename, rm, stat, writeFile } from 'node:fs/promises';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

/** What index.html references in the source tree; the build swaps in the hashed outputs. */
const SOURCE_SCRIPT = './src/main.tsx';
const SOURCE_STYLES = './styles.css';
/** Chromium, Firefox and Safari releases from 2023 on: no syntax lowering needed. */
const TARGETS = ['chrome110', 'firefox115', 'safari16.4'];
/** Written last, so its mtime marks a complete build. */
const STAMP_FILE = 'index.html';

export interface BuildOptions {
  /** Build even when the output looks fresh. */
  force?: boolean;
  /** Defaults to ui/dist. */
  outDir?: string;
}

export interface BuildResult {
  built: boolean;
  outDir: string;
}

/**
 * The ui/ folder: next to this file when run from source, or found by walking up when this
 * module runs compiled from dist/ui/ (the bench runs from the tsc output).
 */
export function uiRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 6; i++) {
    if (existsSync(join(dir, 'index.html')) && existsSync(join(dir, 'src', 'main.tsx'))) return dir;
    if (existsSync(join(dir, 'ui', 'index.html')) && existsSync(join(dir, 'ui', 'src', 'main.tsx'))) return join(dir, 'ui');
    dir = dirname(dir);
  }
  throw new Error('cannot find the ui/ sources (ui/index.html and ui/src/main.tsx)');
}

async function newestMtime(paths: readonly string[]): Promise<number> {
  let newest = 0;
  for (const p of paths) {
    const s = await stat(p);
    if (s.isDirectory()) {
      const entries = await readdir(p);
      newest = Math.max(newest, await newestMtime(entries.map((e) => join(p, e))));
    } else {
      newest = Math.max(newest, s.mtimeMs);
    }
  }
  return newest;
}

/** True when the output is missing or older than any source (or this script, or the lockfile). */
export async function isStale(root: string, outDir: string): Promise<boolean> {
  let built: number;
  try {
    built = (await stat(join(outDir, STAMP_FILE))).mtimeMs;
  } catch {
    return true;
  }
  // The filter language is shared with the server and bundled from its source folder.
  const inputs = [join(root, 'src'), join(root, '..', 'src', 'filter'), join(root, 'index.html'), join(root, 'styles.css'), join(root, 'build.ts')];
  // A dependency upgrade (preact, esbuild) changes the bundle too.
  const lock = join(root, '..', 'package-lock.json');
  if (existsSync(lock)) inputs.push(lock);
  return (await newestMtime(inputs.filter((p) => existsSync(p)))) > built;
}

/** Metafile paths are relative to esbuild's working directory (`root`). */
function outputNamed(meta: esbuild.Metafile, root: string, outDir: string, entry: string): string {
  for (const [file, info] of Object.entries(meta.outputs)) {
    if (info.entryPoint !== undefined && resolve(root, info.entryPoint) === resolve(entry)) return relative(outDir, resolve(root, file));
  }
  throw new Error(`esbuild produced no output for ${entry}`);
}

export async function buildUi(options: BuildOptions = {}): Promise<BuildResult> {
  const root = uiRoot();
  const outDir = resolve(options.outDir ?? join(root, 'dist'));
  if (!options.force && !(await isStale(root, outDir))) return { built: false, outDir };

  // Build next to the target and swap it in, so a running dashboard never serves half a build.
  const staging = `${outDir}.tmp-${process.pid}`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  const script = join(root, 'src', 'main.tsx');
  const styles = join(root, 'styles.css');
  try {
    const result = await esbuild.build({
      absWorkingDir: root,
      entryPoints: { app: script, styles },
      bundle: true,
      format: 'esm',
      splitting: false,
      minify: true,
      sourcemap: 'linked',
      target: TARGETS,
      outdir: staging,
      entryNames: '[name]-[hash]',
      jsx: 'automatic',
      jsxImportSource: 'preact',
      tsconfig: join(root, 'tsconfig.json'),
      define: { 'process.env.NODE_ENV': '"production"' },
      legalComments: 'linked',
      metafile: true,
      logLevel: 'silent',
    });
    const js = outputNamed(result.metafile, root, staging, script);
    const css = outputNamed(result.metafile, root, staging, styles);
    const html = await readFile(join(root, 'index.html'), 'utf8');
    if (!html.includes(`src="${SOURCE_SCRIPT}"`) || !html.includes(`href="${SOURCE_STYLES}"`)) {
      throw new Error(`ui/index.html must reference ${SOURCE_SCRIPT} and ${SOURCE_STYLES}`);
    }
    const out = html.replace(`src="${SOURCE_SCRIPT}"`, `src="./${js}"`).replace(`href="${SOURCE_STYLES}"`, `href="./${css}"`);
    await writeFile(join(staging, STAMP_FILE), out);
    await swapIn(staging, outDir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
  return { built: true, outDir };
}

function errorCode(err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined;
}

/**
 * Replaces `outDir` with `staging` by two renames. Two builds racing (test files run in
 * parallel) both produce the same output, so losing the race is fine: the winner's copy stays.
 */
async function swapIn(staging: string, outDir: string): Promise<void> {
  const old = `${outDir}.old-${process.pid}`;
  await rm(old, { recursive: true, force: true });
  try {
    await rename(outDir, old);
  } catch (err) {
    if (errorCode(err) !== 'ENOENT') throw err;
  }
  try {
    await rename(staging, outDir);
  } catch (err) {
    const code = errorCode(err);
    if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
    await rm(staging, { recursive: true, force: true });
  }
  await rm(old, { recursive: true, force: true });
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const force = process.argv.includes('--force');
  buildUi({ force }).then(
    ({ built, outDir }) => {
      process.stdout.write(built ? `ui: built ${outDir}\n` : `ui: ${outDir} is up to date\n`);
    },
    (err: unknown) => {
      process.stderr.write(`ui: build failed: ${err instanceof Error ? err.message : String(err)}\n`);
      process.exitCode = 1;
    },
  );
}
