/**
 * What mitmscope learned with a connection's own secrets, in plain words: one sentence per
 * decrypted or verified message, and the steps that secured a leg (hello and suite, certificate,
 * key exchange, keys derived, Finished verified). Pure (no DOM) so node:test covers it; every
 * value comes from captured data and is rendered as text.
 */
import type { Handshake, HandshakeEvent } from './types.js';

export type StepStatus = 'ok' | 'warn' | 'bad' | 'unknown';

export interface SecuredStep {
  id: 'hello' | 'certificate' | 'key-exchange' | 'keys' | 'finished';
  title: string;
  status: StepStatus;
  text: string;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);
const num = (v: unknown): number | null => (typeof v === 'number' && Number.isFinite(v) ? v : null);
const record = (v: unknown): Record<string, unknown> | null => (typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null);

export function isDecrypted(e: HandshakeEvent): boolean {
  return e.details['decrypted'] === true;
}

/** The hint after a decrypted message's name on the ladder; null where the usual hint fits. */
export function decryptedHint(e: HandshakeEvent): string | null {
  const d = e.details;
  switch (e.type) {
    case 'EncryptedExtensions':
      return str(d['alpn']) ? `ALPN ${String(d['alpn'])}` : 'decrypted';
    case 'CertificateVerify':
      return str(d['signatureAlgorithm']);
    case 'Finished':
      if (d['verified'] === true) return 'verified ✓';
      if (d['verified'] === false) return 'verification failed';
      return 'decrypted';
    case 'NewSessionTicket':
      return num(d['lifetimeSeconds']) !== null ? `lifetime ${String(d['lifetimeSeconds'])} s` : 'decrypted';
    case 'KeyUpdate':
      return str(d['requestUpdate']);
    default:
      return null;
  }
}

function keyBlockWords(kb: Record<string, unknown>): string {
  const mac = num(kb['macKeyLength']) ?? 0;
  const key = num(kb['keyLength']) ?? 0;
  const iv = num(kb['fixedIvLength']) ?? 0;
  const parts = [mac > 0 ? `2 × ${mac}-byte MAC keys` : null, `2 × ${key}-byte encryption keys`, iv > 0 ? `2 × ${iv}-byte fixed IVs` : 'no fixed IVs (each CBC record carries its own IV)'];
  return `${num(kb['length']) ?? '?'} bytes of key block: ${parts.filter((p) => p !== null).join(', ')}`;
}

const DECRYPTED = "Decrypted by mitmscope with this connection's logged secrets.";

/** One plain sentence about a message mitmscope decrypted or verified; null for the others. */
export function decryptedExplanation(e: HandshakeEvent): string | null {
  const d = e.details;
  if (e.type === 'DecryptionFailed') return `mitmscope could not decrypt this record with the logged secrets: ${str(d['reason']) ?? 'unknown reason'}.`;
  if (e.type === 'EncryptedHandshake' && str(d['reason'])) return `Not decrypted: ${String(d['reason'])}.`;
  if (e.type === 'Finished' && d['encrypted'] === true && str(d['reason'])) return `Not verified: ${String(d['reason'])}.`;
  if (!isDecrypted(e)) return null;
  switch (e.type) {
    case 'EncryptedExtensions':
      return `${DECRYPTED} The server's answers that do not affect the keys: ${str(d['alpn']) ? `application protocol ${String(d['alpn'])}` : 'no application protocol chosen'}${d['serverNameAcknowledged'] === true ? ', server name acknowledged' : ''}.`;
    case 'Certificate':
      return `${DECRYPTED} In TLS 1.3 the certificate chain travels encrypted; this is the chain as sent.`;
    case 'CertificateVerify':
      return `${DECRYPTED} The sender signed the handshake so far with its certificate's private key (${str(d['signatureAlgorithm']) ?? 'unknown scheme'}), proving it owns the certificate.`;
    case 'Finished':
      if (d['verified'] === true) {
        return `${DECRYPTED} mitmscope recomputed verify_data from the master secret and a ${str(d['prfHash']) ?? 'SHA-256'} hash of every handshake message before it (RFC 5246 §7.4.9), and it matches: both ends saw the same handshake.`;
      }
      if (d['verified'] === false) return `${DECRYPTED} Its verify_data does NOT match the handshake mitmscope saw: ${str(d['reason']) ?? 'no reason given'}.`;
      return `${DECRYPTED} An HMAC over the whole handshake; the record decrypted and authenticated, so it came from the holder of the handshake keys.`;
    case 'NewSessionTicket':
      return `${DECRYPTED} A ticket to resume this session later${num(d['maxEarlyDataSize']) ? `, allowing up to ${String(d['maxEarlyDataSize'])} bytes of 0-RTT data` : ''}.`;
    case 'KeyUpdate':
      return `${DECRYPTED} The sender switches to fresh traffic keys.`;
    case 'Alert':
      return `${DECRYPTED} In TLS 1.3 alerts after the ServerHello are encrypted; this one says ${str(d['description']) ?? 'something unknown'}.`;
    case 'ApplicationData':
      return `${DECRYPTED} The first application data record: the handshake is over.`;
    default:
      return DECRYPTED;
  }
}

function keyExchangeStep(hs: Handshake, resumed: boolean): SecuredStep {
  const title = 'Key exchange';
  if (hs.version === 'TLSv1.3') {
    return { id: 'key-exchange', title, status: 'ok', text: `Ephemeral (EC)DHE${hs.group ? ` on ${hs.group}` : ''}: forward secrecy — a later theft of the server's key does not expose this session.` };
  }
  const ske = hs.events.find((e) => e.type === 'ServerKeyExchange');
  const cke = hs.events.find((e) => e.type === 'ClientKeyExchange');
  if ((hs.cipher?.keyExchange ?? '').startsWith('RSA') && cke) {
    return {
      id: 'key-exchange',
      title,
      status: 'warn',
      text: `RSA key transport: the client encrypted a ${num(cke.details['encryptedPreMasterLength']) ?? '?'}-byte pre-master secret to the server's certificate key. No forward secrecy: anyone who later obtains that private key can decrypt a recording of this session.`,
    };
  }
  if (ske) {
    return {
      id: 'key-exchange',
      title,
      status: 'ok',
      text: `${str(ske.details['keyExchange']) ?? hs.cipher?.keyExchange ?? 'Diffie-Hellman'} on ${str(ske.details['group']) ?? hs.group ?? 'an unknown group'}: server public key ${num(ske.details['publicKeyLength']) ?? '?'} bytes, client public key ${num(cke?.details['publicKeyLength']) ?? '?'} bytes. Forward secrecy: the keys die with the connection.`,
    };
  }
  return { id: 'key-exchange', title, status: resumed ? 'ok' : 'unknown', text: resumed ? 'Keys come from the resumed session.' : 'Not recorded.' };
}

function keysStep(hs: Handshake): SecuredStep {
  const title = 'Keys derived';
  if (hs.version === 'TLSv1.3') {
    const decrypted = hs.events.filter(isDecrypted).length;
    const missing = hs.events.find((e) => e.type === 'EncryptedHandshake' && str(e.details['reason']));
    if (decrypted > 0) {
      return { id: 'keys', title, status: 'ok', text: `Handshake and application traffic secrets from the key log; write keys and IVs via HKDF-Expand-Label (RFC 8446 §7.3). ${decrypted} message${decrypted === 1 ? '' : 's'} decrypted. Key bytes are not shown.` };
    }
    return { id: 'keys', title, status: 'unknown', text: missing ? `Not decrypted: ${String(missing.details['reason'])}.` : 'No secrets were available for this connection.' };
  }
  const keyBlock = hs.events.map((e) => (e.type === 'Finished' ? record(e.details['keyBlock']) : null)).find((k) => k !== null);
  return keyBlock
    ? { id: 'keys', title, status: 'ok', text: `From the logged master secret (PRF "key expansion", RFC 5246 §6.3): ${keyBlockWords(keyBlock)}. Key bytes are not shown.` }
    : { id: 'keys', title, status: 'unknown', text: 'No master secret was logged for this connection.' };
}

function finishedStep(hs: Handshake): SecuredStep {
  const verdicts = hs.events
    .filter((e) => e.type === 'Finished')
    .map((e) => {
      const v = e.details['verified'];
      return { from: e.from, state: v === true ? 'verified' : v === false ? 'failed' : isDecrypted(e) ? 'decrypted' : 'opaque' };
    });
  const failed = verdicts.some((v) => v.state === 'failed') || hs.events.some((e) => e.type === 'DecryptionFailed');
  const allVerified = verdicts.length >= 2 && verdicts.every((v) => v.state === 'verified');
  const allDecrypted = verdicts.length >= 2 && verdicts.every((v) => v.state === 'verified' || v.state === 'decrypted');
  const title = 'Finished';
  if (failed) return { id: 'finished', title, status: 'bad', text: 'A Finished message did not check out: the handshake was altered or the logged secret is wrong.' };
  if (allVerified) return { id: 'finished', title, status: 'ok', text: 'Both Finished messages decrypted and their verify_data recomputed from the transcript: they match.' };
  if (allDecrypted) return { id: 'finished', title, status: 'ok', text: 'Both Finished messages decrypted and authenticated under the handshake keys.' };
  return { id: 'finished', title, status: 'unknown', text: `Seen: ${verdicts.map((v) => `${v.from} ${v.state}`).join(', ') || 'none'}.` };
}

/** The steps that secured one leg, from its recorded events. */
export function securedSteps(hs: Handshake): SecuredStep[] {
  const hrr = hs.events.some((e) => e.type === 'HelloRetryRequest');
  const resumed = hs.events.some((e) => e.type === 'ServerHello' && e.details['resumed'] === true);
  const chain = hs.certificates;
  const cert = [...hs.events].reverse().find((e) => e.type === 'Certificate' && e.from !== 'client');
  return [
    {
      id: 'hello',
      title: 'Hello and suite',
      status: hs.version ? 'ok' : 'unknown',
      text: hs.version
        ? `${hs.version} with ${hs.cipher?.name ?? 'an unknown suite'}${hrr ? ', after a HelloRetryRequest for another key-share group' : ''}${resumed ? '; the session was resumed from a ticket (PSK)' : ''}.`
        : 'No version was negotiated.',
    },
    {
      id: 'certificate',
      title: 'Certificate',
      status: resumed || chain.length > 0 ? 'ok' : 'unknown',
      text: resumed
        ? 'None sent: a resumed session reuses the authentication of the earlier one.'
        : chain.length > 0
          ? `${chain.length} certificate${chain.length === 1 ? '' : 's'}, leaf ${chain[0]!.subject} issued by ${chain[0]!.issuer}${cert && isDecrypted(cert) ? ' (from the decrypted Certificate message)' : cert ? '' : ' (from the TLS API)'}.`
          : 'No certificate recorded.',
    },
    keyExchangeStep(hs, resumed),
    keysStep(hs),
    finishedStep(hs),
  ];
}
