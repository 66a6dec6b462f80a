/**
 * The CA bundle `mitmscope env` points trust-replacing variables at (SSL_CERT_FILE, CURL_CA_BUNDLE,
 * REQUESTS_CA_BUNDLE...): the roots those tools trusted before, plus our CA.
 */
import { X509Certificate, randomBytes } from 'node:crypto';
import { readFile, rename, rm, writeFile } from 'node:fs/promises';
import { rootCertificates } from 'node:tls';
import { join } from 'node:path';
import { CaError } from '../errors.js';

export const BUNDLE_FILE = 'bundle.pem';

/**
 * Where distributions keep their PEM bundle, first match wins. The system bundle is preferred to
 * Node's compiled-in Mozilla list because it is what curl, git and OpenSSL trusted before the
 * variables replaced their store: it carries the CAs an administrator added (a company proxy, an
 * internal CA), and dropping those would break unrelated HTTPS in the same shell.
 */
export const SYSTEM_BUNDLES = [
  '/etc/ssl/certs/ca-certificates.crt', // Debian, Ubuntu, Arch, Alpine with ca-certificates
  '/etc/pki/tls/certs/ca-bundle.crt', // Fedora, RHEL, CentOS
  '/etc/ssl/ca-bundle.pem', // openSUSE
  '/etc/ssl/cert.pem', // macOS, Alpine, BSDs
] as const;

const PEM_BEGIN = '-----BEGIN CERTIFICATE-----';
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[A-Za-z0-9+/=\s]+?-----END CERTIFICATE-----/g;
/** Public certificates only: readable by every tool and user that may run `mitmscope env`. */
const BUNDLE_MODE = 0o644;
/** Suffix of the temporary file that is renamed over the bundle, so readers never see half of it. */
const TEMP_SUFFIX_BYTES = 6;

export interface BundleOptions {
  /** Candidate system bundles; tests pass their own. Default `SYSTEM_BUNDLES`. */
  systemBundles?: readonly string[];
}

/** The first readable candidate that holds at least one PEM certificate, or null. */
async function readSystemBundle(candidates: readonly string[]): Promise<string | null> {
  for (const file of candidates) {
    try {
      const text = await readFile(file, 'utf8');
      if (text.includes(PEM_BEGIN)) return text;
    } catch {
      // Absent or unreadable: try the next one, and at worst fall back to Node's roots.
    }
  }
  return null;
}

function endWithNewline(text: string): string {
  return text.endsWith('\n') ? text : `${text}\n`;
}

/**
 * Writes `<caDir>/bundle.pem` = the system bundle (or, where there is none — Windows, slim
 * containers — Node's `tls.rootCertificates`) + `caPem` (our CA's PEM text), atomically.
 * Returns the bundle's path.
 */
export async function writeCaBundle(caDir: string, caPem: string, options: BundleOptions = {}): Promise<string> {
  const target = join(caDir, BUNDLE_FILE);
  // Only certificate blocks are copied: a key passed by mistake must never reach a 0644 file.
  const blocks = caPem.match(PEM_BLOCK) ?? [];
  try {
    if (blocks.length === 0) throw new Error('no CERTIFICATE block');
    for (const block of blocks) new X509Certificate(block);
  } catch (err) {
    throw new CaError('MITM_ERR_CA_CORRUPT', target, `the CA certificate given for ${BUNDLE_FILE} is not a PEM certificate: ${(err as Error).message}`, { cause: err });
  }
  const roots = (await readSystemBundle(options.systemBundles ?? SYSTEM_BUNDLES)) ?? rootCertificates.join('\n');
  const text = `${endWithNewline(roots)}# mitmscope root CA\n${blocks.join('\n')}\n`;
  const temp = `${target}.${randomBytes(TEMP_SUFFIX_BYTES).toString('hex')}.tmp`;
  try {
    await writeFile(temp, text, { mode: BUNDLE_MODE, flush: true });
    await rename(temp, target);
  } catch (err) {
    await rm(temp, { force: true });
    throw new CaError('MITM_ERR_CA_IO', target, `cannot write ${target}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, { cause: err });
  }
  return target;
}
