/**
 * The front's TLS certificate: the operator's (`--tls-cert`/`--tls-key`), or a self-signed one made on
 * first start and kept in the front's data folder, so its fingerprint stays the same across restarts and
 * the plugins that pinned it keep connecting. `team fingerprint` prints that fingerprint.
 */
import { X509Certificate } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { isIP } from 'node:net';
import { join } from 'node:path';
import { generate } from 'selfsigned';
import { TeamConfigError } from './redis.ts';

export interface TlsMaterial {
  cert: string;
  key: string;
  /** SHA-256 fingerprint, "AB:CD:…" (what `openssl x509 -fingerprint -sha256` and Node print). */
  fingerprint: string;
  selfSigned: boolean;
  /** Where it came from, for the log. */
  source: string;
}

export function fingerprintOf(certPem: string): string {
  return new X509Certificate(certPem).fingerprint256;
}

/** Normalises a fingerprint as users paste it (any case, with or without colons). */
export function normalizeFingerprint(f: string): string {
  const hex = f.replace(/^sha256[:=]?/i, '').replace(/[^0-9a-fA-F]/g, '').toUpperCase();
  if (hex.length !== 64) throw new TeamConfigError(`"${f}" is not a SHA-256 fingerprint (64 hex digits, colons optional)`);
  return hex.match(/../g)!.join(':');
}

export function selfSignedPaths(dataDir: string): { cert: string; key: string } {
  return { cert: join(dataDir, 'tls', 'cert.pem'), key: join(dataDir, 'tls', 'key.pem') };
}

export async function loadTls(o: { certFile?: string; keyFile?: string; dataDir: string; names?: string[] }): Promise<TlsMaterial> {
  if (o.certFile || o.keyFile) {
    if (!o.certFile || !o.keyFile) throw new TeamConfigError('--tls-cert and --tls-key go together (give both, or neither for a self-signed certificate)');
    const cert = readPem(o.certFile, '--tls-cert');
    const key = readPem(o.keyFile, '--tls-key');
    let fingerprint: string;
    try {
      fingerprint = fingerprintOf(cert);
    } catch (e) {
      throw new TeamConfigError(`--tls-cert ${o.certFile} is not a PEM certificate: ${(e as Error).message}`);
    }
    return { cert, key, fingerprint, selfSigned: false, source: o.certFile };
  }
  const p = selfSignedPaths(o.dataDir);
  if (existsSync(p.cert) && existsSync(p.key)) {
    const cert = readFileSync(p.cert, 'utf8');
    return { cert, key: readFileSync(p.key, 'utf8'), fingerprint: fingerprintOf(cert), selfSigned: true, source: p.cert };
  }
  const names = [...new Set(['localhost', '127.0.0.1', '::1', hostname(), ...(o.names ?? [])])];
  const pems = await generate([{ name: 'commonName', value: `ipa-bridge team front (${hostname()})` }], {
    // EC P-256: generated in milliseconds, accepted by every TLS stack the plugins use.
    keyType: 'ec',
    curve: 'P-256',
    notAfterDate: new Date(Date.now() + 10 * 365 * 86_400_000),
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: names.map((n) => (isIP(n) ? { type: 7 as const, ip: n } : { type: 2 as const, value: n })) },
    ],
  });
  mkdirSync(join(o.dataDir, 'tls'), { recursive: true, mode: 0o700 });
  writeFileSync(p.key, pems.private, { mode: 0o600 });
  writeFileSync(p.cert, pems.cert, { mode: 0o644 });
  return { cert: pems.cert, key: pems.private, fingerprint: fingerprintOf(pems.cert), selfSigned: true, source: `${p.cert} (new)` };
}

function readPem(file: string, option: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    throw new TeamConfigError(`${option} ${file} cannot be read: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`);
  }
}
