/**
 * The plugin side of team mode, pure: the Server setting (parseConnection, parseStudioUrl, targetFor) and
 * the build option that lists the studio host in both manifests (plugins/team-host.mjs).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { probeUrl, socketUrl, targetFor } from '../../shared/plugin/connection.ts';
import { parseConnection, parseStudioUrl } from '../../shared/plugin/settings.ts';
import { problemHelp } from '../../shared/plugin/reconnect.ts';
import { parseTeamHost, withTeamHostFigma, withTeamHostUxp } from '../../plugins/team-host.mjs';

const ROOT = join(import.meta.dirname, '..', '..');
const FP = Array.from({ length: 32 }, (_, i) => (i * 7 % 256).toString(16).padStart(2, '0').toUpperCase()).join(':');

test('Server setting: this computer by default; a studio needs a wss://HOST:PORT URL; the pin is kept with it', () => {
  assert.deepEqual(parseConnection({ token: 'abc', port: 5000 }), { token: 'abc', port: 5000 }, 'older records read as before');
  assert.equal(parseStudioUrl('studio.example.com:41873'), 'wss://studio.example.com:41873');
  assert.equal(parseStudioUrl('WSS://Studio.Example.com:41873/'), 'wss://studio.example.com:41873');
  assert.equal(parseStudioUrl('wss://[::1]:41873'), 'wss://[::1]:41873');
  for (const bad of ['https://x:1', 'wss://x', 'wss://x:0', 'wss://x:1/path', '*:1', 'wss://a b:1', 42, null]) assert.equal(parseStudioUrl(bad), null, String(bad));
  const studio = parseConnection({ token: ' t0k ', port: 41872, server: 'studio', studioUrl: 'studio:41873', pinnedFingerprint: FP });
  assert.deepEqual(studio, { token: 't0k', port: 41872, server: 'studio', studioUrl: 'wss://studio:41873', pinnedFingerprint: FP });
  assert.equal(parseConnection({ token: 't', server: 'studio', studioUrl: 'nonsense' }).server, undefined, 'no usable URL: this computer');
  assert.equal(parseConnection({ token: 't', server: 'studio', studioUrl: 'h:1', pinnedFingerprint: 'zz' }).pinnedFingerprint, undefined);
  assert.deepEqual(targetFor(studio), { token: 't0k', url: 'wss://studio:41873', fingerprint: FP });
  assert.deepEqual(targetFor({ ...studio, server: undefined }, '127.0.0.1'), { token: 't0k', port: 41872, host: '127.0.0.1' });
  assert.equal(targetFor({ ...studio, token: '' }), null);
  assert.equal(socketUrl({ token: 'a b', url: 'wss://studio:41873' }), 'wss://studio:41873/?token=a%20b');
  assert.equal(probeUrl({ token: 'x', url: 'wss://studio:41873' }), 'https://studio:41873/');
  const help = problemHelp({ code: 'fingerprint-mismatch', message: 'The server at wss://studio:41873 reports …' }, 41872);
  assert.match(help.status, /certificate changed/);
  assert.equal(help.command, 'npx ipa-bridge team fingerprint');
});

test('npm run build -- --team-host: exactly that host in both manifests, never "all"', () => {
  assert.equal(parseTeamHost('Studio.Example.com:41873'), 'studio.example.com:41873');
  assert.equal(parseTeamHost('[fd00::5]:41873'), '[fd00::5]:41873');
  for (const bad of ['studio', 'https://studio:1', 'studio:1/x', '*:41873', '*.example.com:1', 'studio:70000', '']) assert.throws(() => parseTeamHost(bad), /--team-host/, bad);
  const ps = JSON.parse(readFileSync(join(ROOT, 'plugins/photoshop/manifest.json'), 'utf8'));
  const psOut = withTeamHostUxp(ps, 'studio.example.com:41873');
  assert.deepEqual(psOut.requiredPermissions.network.domains, [...ps.requiredPermissions.network.domains, 'wss://studio.example.com:41873', 'https://studio.example.com:41873']);
  assert.deepEqual(withTeamHostUxp(psOut, 'studio.example.com:41873').requiredPermissions.network.domains, psOut.requiredPermissions.network.domains, 'idempotent');
  assert.notEqual(psOut, ps);
  const fg = JSON.parse(readFileSync(join(ROOT, 'plugins/figma/manifest.json'), 'utf8'));
  const fgOut = withTeamHostFigma(fg, 'studio.example.com:41873');
  assert.deepEqual(fgOut.networkAccess.allowedDomains, ['wss://studio.example.com:41873', 'https://studio.example.com:41873']);
  assert.deepEqual(fgOut.networkAccess.devAllowedDomains, fg.networkAccess.devAllowedDomains);
  assert.match(fgOut.networkAccess.reasoning, /studio.*studio\.example\.com:41873/);
  for (const m of [JSON.stringify(psOut), JSON.stringify(fgOut)]) assert.ok(!/"all"|"\*"/.test(m), 'no wildcard');
});
