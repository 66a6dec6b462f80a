/**
 * Outside programs that tests drive as real peers and clients, looked up before a test runs so
 * that a machine without one skips those tests with a one-line reason naming the program and the
 * Debian package that brings it, instead of failing on `spawn … ENOENT`. `.ci/run` installs them.
 *
 *   test('…', { skip: requireTool('tcpdump', 'tcpdump') }, async () => { … });
 *   describe('…', { skip: requireTools('curl', 'openssl') }, () => { … });
 */
import { spawnSync } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** A skip reason for node:test's `{ skip }`, or false when everything needed is here. */
export type SkipReason = string | false;

const lookedUp = new Map<string, boolean>();

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** Like `command -v`: an absolute path must be executable, a bare name found on PATH. */
function available(tool: string): boolean {
  const known = lookedUp.get(tool);
  if (known !== undefined) return known;
  const dirs = (process.env['PATH'] ?? '').split(delimiter).filter((d) => d !== '');
  const found = isAbsolute(tool) ? executable(tool) : dirs.some((d) => executable(join(d, tool)));
  lookedUp.set(tool, found);
  return found;
}

/** false when `tool` is installed, else why the test is skipped. */
export function requireTool(tool: string, debianPackage: string): SkipReason {
  return available(tool) ? false : `needs ${tool} (Debian package ${debianPackage}), which is not installed`;
}

/** The programs the suite uses, each with the Debian package that brings it. */
export const TOOLS = {
  curl: ['curl', 'curl'],
  openssl: ['openssl', 'openssl'],
  chromium: ['/usr/bin/chromium', 'chromium'],
  certutil: ['certutil', 'libnss3-tools'],
  tcpdump: ['tcpdump', 'tcpdump'],
  tshark: ['tshark', 'tshark'],
  python3: ['python3', 'python3'],
  'docker-compose': ['docker-compose', 'docker-compose'],
  fish: ['fish', 'fish'],
  pwsh: ['pwsh', "powershell, from Microsoft's Debian repository"],
} as const satisfies Record<string, readonly [tool: string, debianPackage: string]>;

export type ToolName = keyof typeof TOOLS;

/** The reason for the first of `names` that is missing, or false when all are installed. */
export function requireTools(...names: ToolName[]): SkipReason {
  for (const name of names) {
    const [tool, debianPackage] = TOOLS[name];
    const reason = requireTool(tool, debianPackage);
    if (reason !== false) return reason;
  }
  return false;
}

/** python3 able to import `module` (e.g. requests from python3-requests). */
export function requirePythonModule(module: string, debianPackage: string): SkipReason {
  const python = requireTools('python3');
  if (python !== false) return python;
  const key = `python3:${module}`;
  let found = lookedUp.get(key);
  if (found === undefined) {
    found = spawnSync('python3', ['-c', `import ${module}`], { stdio: 'ignore' }).status === 0;
    lookedUp.set(key, found);
  }
  return found ? false : `needs the Python module ${module} (Debian package ${debianPackage}), which is not installed`;
}
