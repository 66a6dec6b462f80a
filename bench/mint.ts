/**
 * Leaf minting cost after start-up: a CA in a temp folder, a warm-up, then fresh host names
 * minted one after another (each a cache miss) through contextFor, as the proxy calls it: the
 * ECDSA leaf alone (what a client that accepts ECDSA is served) and both leaves, alternating.
 * Run: node --import tsx bench/mint.ts
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import forge from 'node-forge';
import { loadOrCreateRootCa, type RootCa } from '../src/ca/root-ca.js';
import { CertificateMinter } from '../src/ca/mint.js';
import type { LeafKind } from '../src/ca/leaf-kind.js';

/** Enough for the JIT to settle on forge's ASN.1 paths before timing. */
const WARMUP_MINTS = 50;
const MEASURED_MINTS = 200;

export interface MintBench {
  /** Milliseconds per fresh host, contextFor(host, 'ecdsa') from call to ready SecureContext. */
  median: number;
  p99: number;
  /** The same with both leaves in the context (clients that may need RSA). */
  both: { median: number; p99: number };
  samples: number;
  /** One leaf signed by forge's pure-JS RSA instead, for comparison. */
  forgeSignMs: number;
}

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

/** The cost the native path avoids: the same kind of leaf signed with forge.pki's RSA. */
function forgeSignOnce(rootCa: RootCa): number {
  const caKey = forge.pki.privateKeyFromPem(rootCa.keyPem);
  const leafCert = forge.pki.certificateFromPem(rootCa.certPem);
  const start = performance.now();
  leafCert.sign(caKey, forge.md.sha256.create());
  return performance.now() - start;
}

export async function benchMint(): Promise<MintBench> {
  const dir = await mkdtemp(join(tmpdir(), 'mitmscope-bench-mint-'));
  try {
    const rootCa = await loadOrCreateRootCa(dir);
    const minter = await CertificateMinter.create(rootCa, { cacheSize: WARMUP_MINTS + MEASURED_MINTS });
    for (let i = 0; i < WARMUP_MINTS; i++) await minter.contextFor(`warm-${i}.bench.test`);
    const samples: Record<LeafKind, number[]> = { ecdsa: [], both: [] };
    for (let i = 0; i < MEASURED_MINTS; i++) {
      const kind: LeafKind = i % 2 === 0 ? 'ecdsa' : 'both';
      const start = performance.now();
      await minter.contextFor(`host-${i}.bench.test`, kind);
      samples[kind].push(performance.now() - start);
    }
    const stats = (list: number[]): { median: number; p99: number } => {
      list.sort((a, b) => a - b);
      return { median: percentile(list, 50), p99: percentile(list, 99) };
    };
    const both = stats(samples.both);
    return { ...stats(samples.ecdsa), both, samples: MEASURED_MINTS, forgeSignMs: forgeSignOnce(rootCa) };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const result = await benchMint();
  console.log(`mint: ${result.samples} fresh hosts; ECDSA leaf alone median ${result.median.toFixed(2)} ms, p99 ${result.p99.toFixed(2)} ms; both leaves median ${result.both.median.toFixed(2)} ms, p99 ${result.both.p99.toFixed(2)} ms`);
  console.log(`forge pure-JS signature for one certificate: ${result.forgeSignMs.toFixed(1)} ms (${(result.forgeSignMs / result.median).toFixed(0)}x a whole native mint)`);
}
