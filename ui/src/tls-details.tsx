/**
 * What a handshake event or a whole leg means, in words: SNI, offered and chosen suites (the
 * chosen one decomposed), ALPN, groups, fingerprints, certificate chains (minted by mitmscope on
 * the client leg, the server's real chain on the other), alerts and the TLS 1.3 fallback.
 */
import { CertificateChain } from './certificates.js';
import { Facts, Row } from './facts.js';
import { formatOffset, hexId, humanize } from './format.js';
import { asCipher, describeValue, isEncrypted, offeredSuites, SENDER_NAMES } from './tls-words.js';
import { decryptedExplanation, isDecrypted, securedSteps } from './tls-secured.js';
import type { CertificateSummary, CipherInfo, Connection, Handshake, HandshakeEvent, Leg } from './types.js';

export function CipherTable({ cipher }: { cipher: CipherInfo }) {
  return (
    <div class="cipher">
      <div class="mono">
        {cipher.name} <span class="muted">({hexId(cipher.id)})</span>
      </div>
      <dl class="decomposed">
        <div>
          <dt>Key exchange</dt>
          <dd>{cipher.keyExchange}</dd>
        </div>
        <div>
          <dt>Authentication</dt>
          <dd>{cipher.authentication}</dd>
        </div>
        <div>
          <dt>Encryption</dt>
          <dd>{cipher.encryption}</dd>
        </div>
        <div>
          <dt>MAC</dt>
          <dd>{cipher.mac}</dd>
        </div>
      </dl>
    </div>
  );
}

function SuiteList({ details }: { details: Record<string, unknown> }) {
  const suites = offeredSuites(details);
  if (suites.length === 0) return <span class="muted">not recorded</span>;
  return (
    <details class="suites">
      <summary>
        {suites.length} cipher suite{suites.length === 1 ? '' : 's'} offered
      </summary>
      <ol>
        {suites.map((s, i) => (
          <li key={i} class="mono">
            {s.id !== null ? <span class="muted">{hexId(s.id)} </span> : null}
            {s.name}
          </li>
        ))}
      </ol>
    </details>
  );
}

function asCertificates(v: unknown): CertificateSummary[] {
  return Array.isArray(v) ? v.filter((c): c is CertificateSummary => typeof c === 'object' && c !== null && typeof (c as CertificateSummary).subject === 'string') : [];
}

/** Keys each message view already shows; the rest are listed generically below them. */
const SHOWN: Record<string, readonly string[]> = {
  ClientHello: ['sni', 'cipherSuites', 'cipherSuiteNames', 'alpn', 'supportedVersions', 'supportedVersionIds', 'supportedGroups', 'supportedGroupIds', 'keyShareGroups', 'signatureAlgorithms', 'signatureAlgorithmIds', 'ja3', 'ja3String', 'ja4', 'legacyVersion', 'legacyVersionName', 'ecPointFormatIds', 'extensions'],
  ServerHello: ['version', 'versionId', 'cipher', 'alpn', 'group', 'legacyVersion', 'extensions', 'downgradeSentinel'],
  HelloRetryRequest: ['version', 'versionId', 'cipher', 'alpn', 'group', 'legacyVersion', 'extensions'],
  Certificate: ['certificates', 'count'],
  Alert: ['level', 'description', 'code'],
  Error: ['reason'],
};

/** Long opaque values (randoms, session ids) are shown but kept on one line. */
function GenericRows({ details, skip }: { details: Record<string, unknown>; skip: readonly string[] }) {
  const keys = Object.keys(details).filter((k) => !skip.includes(k));
  return (
    <>
      {keys.map((k) => (
        <Row key={k} label={humanize(k)}>
          <span class={typeof details[k] === 'string' && String(details[k]).length > 40 ? 'mono wrap' : undefined}>{describeValue(details[k])}</span>
        </Row>
      ))}
    </>
  );
}

function stringList(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === 'string') : [];
}

function ListRow({ label, values }: { label: string; values: string[] }) {
  if (values.length === 0) return null;
  return <Row label={label}>{values.join(', ')}</Row>;
}

function ClientHelloFacts({ d }: { d: Record<string, unknown> }) {
  const sni = typeof d['sni'] === 'string' ? d['sni'] : null;
  const versions = stringList(d['supportedVersions']);
  return (
    <>
      <Row label="Server name (SNI)">{sni ?? <span class="muted">none sent — the proxy used the CONNECT host</span>}</Row>
      <Row label="Versions offered">{versions.length > 0 ? versions.join(', ') : describeValue(d['legacyVersionName'])}</Row>
      <Row label="Cipher suites">
        <SuiteList details={d} />
      </Row>
      <ListRow label="ALPN offered" values={stringList(d['alpn'])} />
      <ListRow label="Groups offered" values={stringList(d['supportedGroups'])} />
      <ListRow label="Key shares sent" values={stringList(d['keyShareGroups'])} />
      <ListRow label="Signature algorithms" values={stringList(d['signatureAlgorithms'])} />
      {Array.isArray(d['extensions']) ? <Row label="Extensions">{describeValue(d['extensions'])}</Row> : null}
      {typeof d['ja3'] === 'string' ? (
        <Row label="JA3">
          <span class="mono">{d['ja3']}</span>
          {typeof d['ja3String'] === 'string' ? <div class="mono wrap muted">{d['ja3String']}</div> : null}
        </Row>
      ) : null}
      {typeof d['ja4'] === 'string' ? (
        <Row label="JA4">
          <span class="mono">{d['ja4']}</span>
        </Row>
      ) : null}
    </>
  );
}

function ServerHelloFacts({ d }: { d: Record<string, unknown> }) {
  const cipher = asCipher(d['cipher']);
  return (
    <>
      <Row label="Version chosen">{describeValue(d['version'])}</Row>
      <Row label="Cipher suite chosen">{cipher ? <CipherTable cipher={cipher} /> : describeValue(d['cipher'])}</Row>
      <Row label="ALPN chosen">{typeof d['alpn'] === 'string' ? d['alpn'] : <span class="muted">none</span>}</Row>
      {typeof d['group'] === 'string' ? <Row label="Key share group">{d['group']}</Row> : null}
      {Array.isArray(d['extensions']) ? <Row label="Extensions">{describeValue(d['extensions'])}</Row> : null}
      {typeof d['downgradeSentinel'] === 'string' ? (
        <Row label="Downgrade sentinel" alarm>
          {d['downgradeSentinel']} — the server supports TLS 1.3 but negotiated less (RFC 8446 §4.1.3)
        </Row>
      ) : null}
    </>
  );
}

/** One sentence about what the message does, for the ones whose fields say little. */
function meaning(e: HandshakeEvent, leg: Leg, connection: Connection | null): string | null {
  const sender = SENDER_NAMES[e.from];
  switch (e.type) {
    case 'TCPConnect':
      return connection
        ? leg === 'client'
          ? `The client (${connection.address}:${connection.port}) opened a TCP connection to mitmscope.`
          : `mitmscope opened a TCP connection to ${connection.host} (${connection.address}:${connection.port}).`
        : 'The TCP connection opened.';
    case 'ChangeCipherSpec':
      return e.details['middleboxCompatibility'] === true
        ? `${sender} sent a TLS 1.3 middlebox-compatibility ChangeCipherSpec; it changes nothing (RFC 8446 §D.4).`
        : `From here on, ${sender}'s records are encrypted with the negotiated keys.`;
    case 'Finished':
      return `${sender} proves it saw the same handshake (verify_data over the transcript)${isEncrypted(e) ? '; it is encrypted, so only its length is visible' : ''}.`;
    case 'EncryptedHandshake':
      return `Encrypted handshake messages from ${sender} — in TLS 1.3 everything after the ServerHello (certificates included) is encrypted on the wire.`;
    case 'ApplicationData':
      return e.details['earlyData'] === true ? `${sender} sent 0-RTT early data.` : `${sender}'s first encrypted application data: the handshake is over.`;
    case 'ServerHelloDone':
      return 'The server is done with its half of the handshake and waits for the client.';
    case 'ServerKeyExchange':
      return 'The server sends its ephemeral key-exchange parameters, signed with its certificate key.';
    case 'ClientKeyExchange':
      return 'The client sends its key-exchange share; client and server can now derive the keys.';
    case 'NewSessionTicket':
      return 'A ticket the client can present later to resume the session without a full handshake.';
    case 'HelloRetryRequest':
      return 'The server asks the client to retry its ClientHello with a key share for another group.';
    default:
      return null;
  }
}

export function EventDetails({ event, leg, handshake, connection }: { event: HandshakeEvent; leg: Leg; handshake: Handshake; connection: Connection | null }) {
  const d = event.details;
  const words = meaning(event, leg, connection);
  const secured = decryptedExplanation(event);
  const alarm = event.type === 'Alert' || event.type === 'Error' || event.type === 'DecryptionFailed' || d['verified'] === false;
  const certs = asCertificates(d['certificates']);
  return (
    <div class="event-details" data-event={event.type}>
      <h3>
        {event.type} <span class="muted">from {SENDER_NAMES[event.from]} at {formatOffset(event.t)}</span>
        {isDecrypted(event) ? <span class="pill decrypted">decrypted by mitmscope</span> : null}
        {d['verified'] === true ? <span class="pill real">verified</span> : null}
      </h3>
      {words ? <p>{words}</p> : null}
      {secured ? <p class="secured-words">{secured}</p> : null}
      {alarm ? (
        <div class="banner error" role="alert">
          {event.type === 'DecryptionFailed' || d['verified'] === false
            ? `${describeValue(d['reason'])}`
            : event.type === 'Alert'
            ? d['encrypted'] === true
              ? `${SENDER_NAMES[event.from]} sent an encrypted alert (its content is not visible).`
              : `${SENDER_NAMES[event.from]} sent a ${describeValue(d['level'])} alert: ${describeValue(d['description'])}${typeof d['code'] === 'number' ? ` (${d['code']})` : ''}.`
            : `Error: ${describeValue(d['reason'])}`}
        </div>
      ) : null}
      <Facts>
        {event.type === 'ClientHello' ? <ClientHelloFacts d={d} /> : null}
        {event.type === 'ServerHello' || event.type === 'HelloRetryRequest' ? <ServerHelloFacts d={d} /> : null}
        <GenericRows details={d} skip={SHOWN[event.type] ?? []} />
      </Facts>
      {event.type === 'Certificate' ? <CertificateChain certs={certs.length > 0 ? certs : handshake.certificates} leg={leg} /> : null}
      {event.type === 'EncryptedHandshake' && event.from !== 'client' && handshake.certificates.length > 0 && handshake.version === 'TLSv1.3' ? (
        <>
          <p class="muted">The chain below was read from the TLS API after the handshake:</p>
          <CertificateChain certs={handshake.certificates} leg={leg} />
        </>
      ) : null}
    </div>
  );
}

function suiteNamesOf(handshake: Handshake): Record<string, unknown> {
  const hello = handshake.events.find((e) => e.type === 'ClientHello');
  return hello ? hello.details : { cipherSuites: handshake.offeredCiphers };
}

const STEP_MARKS: Record<string, string> = { ok: '✓', warn: '!', bad: '✗', unknown: '?' };

/** "How this connection was secured": the steps of both legs side by side, as text. */
export function SecuredPanel({ legs }: { legs: { leg: Leg; title: string; handshake: Handshake }[] }) {
  if (legs.length === 0) return null;
  return (
    <section class="secured" aria-label="How this connection was secured">
      <h3>How this connection was secured</h3>
      <div class="secured-legs">
        {legs.map(({ leg, title, handshake }) => (
          <ol key={leg} class="secured-steps" data-leg={leg}>
            <li class="secured-title">{title}</li>
            {securedSteps(handshake).map((step) => (
              <li key={step.id} class={`step ${step.status}`} data-step={step.id} data-status={step.status}>
                <span class="mark" aria-hidden="true">
                  {STEP_MARKS[step.status]}
                </span>
                <strong>{step.title}</strong> <span>{step.text}</span>
              </li>
            ))}
          </ol>
        ))}
      </div>
    </section>
  );
}

/** A leg at a glance, shown while no event is selected (errors and fallback are above the ladder). */
export function LegOverview({ leg, handshake, connection }: { leg: Leg; handshake: Handshake; connection: Connection | null }) {
  const title = leg === 'client' ? 'Client ↔ mitmscope' : `mitmscope ↔ ${connection?.host ?? 'server'}`;
  return (
    <div class="leg-overview" data-leg={leg}>
      <h3>{title}</h3>
      <Facts>
        <Row label="Version">{handshake.version ?? <span class="muted">not negotiated</span>}</Row>
        {handshake.version ? <Row label="Handshake">{handshake.resumed ? 'abbreviated: an earlier session was resumed, no certificate was sent' : 'full'}</Row> : null}
        <Row label="Cipher suite">{handshake.cipher ? <CipherTable cipher={handshake.cipher} /> : <span class="muted">none</span>}</Row>
        <Row label="Server name (SNI)">{handshake.sni ?? <span class="muted">none sent</span>}</Row>
        <Row label="ALPN">
          {handshake.alpn ?? <span class="muted">none</span>}
          {handshake.alpnOffered.length > 0 ? <span class="muted"> (offered {handshake.alpnOffered.join(', ')})</span> : null}
        </Row>
        <Row label="Offered suites">
          <SuiteList details={suiteNamesOf(handshake)} />
        </Row>
        {handshake.group ? <Row label="Key exchange group">{handshake.group}</Row> : null}
        {handshake.ja3 ? (
          <Row label="JA3">
            <span class="mono">{handshake.ja3}</span>
            <div class="mono wrap muted">{handshake.ja3String ?? ''}</div>
          </Row>
        ) : null}
        {handshake.ja4 ? (
          <Row label="JA4">
            <span class="mono">{handshake.ja4}</span>
          </Row>
        ) : null}
      </Facts>
      <h4>Certificate chain</h4>
      <CertificateChain certs={handshake.certificates} leg={leg} />
    </div>
  );
}
