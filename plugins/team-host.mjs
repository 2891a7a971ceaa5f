// `npm run build -- --team-host HOST:PORT`: the plugins may reach a studio server (docs/team.md) only if
// their manifests list it. This adds wss://HOST:PORT (the WebSocket) and https://HOST:PORT (the plain
// HTTP probe that tells "not running" from "refused") to Photoshop's requiredPermissions.network.domains
// and Figma's networkAccess.allowedDomains — exactly that host, never "all" or a wildcard. Plain JS:
// esbuild.config.mjs runs under bare node; the types are in team-host.d.mts.

/** Checks HOST:PORT (a host name, IPv4, or [IPv6]; no scheme, path or wildcard); throws naming the problem. */
export function parseTeamHost(value) {
  const v = String(value ?? '').trim();
  const m = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]{0,251}[A-Za-z0-9])?):(\d{1,5})$/.exec(v);
  if (!m) throw new Error(`--team-host ${JSON.stringify(v)}: give HOST:PORT of the studio server, e.g. --team-host studio.example.com:41873 (no scheme, no path, no wildcard)`);
  const port = Number(m[2]);
  if (port < 1 || port > 65535) throw new Error(`--team-host ${v}: port ${port} is not 1–65535`);
  return `${m[1].toLowerCase()}:${port}`;
}

/** The origins a studio host needs. */
export function teamHostDomains(hostPort) {
  return [`wss://${hostPort}`, `https://${hostPort}`];
}

/** Photoshop (UXP manifest v5): a copy with the studio's domains in requiredPermissions.network.domains. */
export function withTeamHostUxp(manifest, hostPort) {
  const m = structuredClone(manifest);
  m.requiredPermissions ??= {};
  m.requiredPermissions.network ??= { domains: [] };
  const domains = m.requiredPermissions.network.domains;
  if (!Array.isArray(domains)) throw new Error('the Photoshop manifest\'s requiredPermissions.network.domains is not a list (it must never be "all")');
  for (const d of teamHostDomains(hostPort)) if (!domains.includes(d)) domains.push(d);
  return m;
}

/** Figma: a copy with the studio's domains in networkAccess.allowedDomains (replacing "none"). */
export function withTeamHostFigma(manifest, hostPort) {
  const m = structuredClone(manifest);
  m.networkAccess ??= { allowedDomains: ['none'] };
  const current = Array.isArray(m.networkAccess.allowedDomains) ? m.networkAccess.allowedDomains.filter((d) => d !== 'none') : [];
  if (current.includes('*')) throw new Error('the Figma manifest allows every domain ("*"); it must list hosts');
  m.networkAccess.allowedDomains = [...current, ...teamHostDomains(hostPort).filter((d) => !current.includes(d))];
  m.networkAccess.reasoning = `${m.networkAccess.reasoning ?? ''} With a studio server configured, it talks to the studio's ipa-bridge server at ${hostPort} the same way (WebSocket jobs over TLS, one HTTP probe).`.trim();
  return m;
}
