/**
 * Certificate chains: subject, issuer, validity, SANs and fingerprint per certificate, labelled
 * "minted by mitmscope" on the client leg (the leaf the proxy presented) and "real" on the
 * server leg (what the server sent).
 */
import { Facts, Row } from './facts.js';
import { formatDate } from './format.js';
import { validity } from './tls-words.js';
import type { CertificateSummary, Leg } from './types.js';

function Certificate({ cert, leg, index }: { cert: CertificateSummary; leg: Leg; index: number }) {
  const state = validity(cert.notBefore, cert.notAfter, Date.now());
  // The client leg's chain is the leaf mitmscope minted; the server leg's is what the server sent.
  const origin = leg === 'client' ? 'minted by mitmscope' : 'real';
  return (
    <div class="cert" data-origin={leg === 'client' ? 'minted' : 'real'}>
      <div class="cert-head">
        <span class="muted">#{index + 1}</span> <strong>{cert.subject || '(no subject)'}</strong>
        <span class={`pill ${leg === 'client' ? 'minted' : 'real'}`}>{origin}</span>
        {state !== 'valid' ? <span class="pill bad">{state}</span> : null}
      </div>
      <Facts>
        <Row label="Issuer">{cert.issuer || '—'}</Row>
        <Row label="Valid" alarm={state === 'expired' || state === 'not yet valid'}>
          {formatDate(cert.notBefore)} → {formatDate(cert.notAfter)}
        </Row>
        <Row label="Names (SAN)">{cert.sans.length > 0 ? cert.sans.join(', ') : 'none'}</Row>
        <Row label="SHA-256">
          <span class="mono fingerprint">{cert.sha256}</span>
        </Row>
      </Facts>
    </div>
  );
}

export function CertificateChain({ certs, leg }: { certs: readonly CertificateSummary[]; leg: Leg }) {
  if (certs.length === 0) return <p class="muted">No certificate recorded.</p>;
  return (
    <div class="chain">
      {certs.map((c, i) => (
        <Certificate key={i} cert={c} leg={leg} index={i} />
      ))}
    </div>
  );
}
