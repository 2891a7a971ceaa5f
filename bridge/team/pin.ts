/**
 * TLS with a pinned certificate fingerprint (trust on first use) for Node clients: the connection is
 * made and the server's certificate compared before a single byte (a token in a URL, an image) is sent.
 * A self-signed certificate has no CA to check it, so the fingerprint is the whole check; a mismatch is
 * refused with both fingerprints in the message.
 */
import { connect, type TLSSocket } from 'node:tls';
import { isIP } from 'node:net';

export class FingerprintMismatchError extends Error {
  readonly code = 'fingerprint-mismatch';
  constructor(readonly host: string, readonly expected: string, readonly actual: string) {
    super(`the server at ${host} presented a certificate with fingerprint ${actual}, not the pinned ${expected}: ` +
      'refusing to connect. If the studio server was reinstalled or its certificate replaced, ask its admin for the new fingerprint ' +
      '(`npx ipa-bridge team fingerprint` on the server) and pin that; otherwise someone may be intercepting the connection.');
    this.name = 'FingerprintMismatchError';
  }
}

/** Opens TLS to host:port and resolves once the certificate's SHA-256 fingerprint equals `fingerprint`. */
export function pinnedTls(host: string, port: number, fingerprint: string, timeoutMs = 10_000): Promise<TLSSocket> {
  return new Promise((resolve, reject) => {
    const bare = host.replace(/^\[|\]$/g, '');
    const socket = connect({ host: bare, port, rejectUnauthorized: false, ...(isIP(bare) ? {} : { servername: bare }) });
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no TLS handshake with ${host}:${port} within ${timeoutMs} ms`));
    }, timeoutMs);
    socket.once('secureConnect', () => {
      clearTimeout(timer);
      const actual = socket.getPeerCertificate().fingerprint256;
      if (!actual || actual.toUpperCase() !== fingerprint.toUpperCase()) {
        socket.destroy();
        reject(new FingerprintMismatchError(`${host}:${port}`, fingerprint, actual ?? 'none'));
        return;
      }
      resolve(socket);
    });
    socket.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
  });
}
