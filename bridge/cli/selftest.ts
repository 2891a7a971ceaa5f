/**
 * `ipa-bridge selftest`: a private daemon on a free loopback port, the security checks a user can see
 * (wrong token → 401, web Origin → 403), one real job through a real WebSocket, a PNG on disk.
 * The engine is the real one unless --engine names another module; without --models it runs on tiny
 * generated models when the engine offers them (engine/index.ts `writeTinyModels(dir)`).
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import sharp from 'sharp';
import type { JobMessage } from '../../shared/protocol/messages.ts';
import { DEFAULTS, type DaemonConfig } from '../config.ts';
import { ConnectError, connectBridge } from '../connect.ts';
import { loadEngineFactory } from '../engine-loader.ts';
import { createLogger, silentLogger } from '../log.ts';
import { startDaemon, type DaemonHandle } from '../server.ts';
import { flag, parse, str } from './args.ts';
import { SELFTEST_HELP } from './help.ts';
import { providerOf } from './start.ts';

export async function runSelftest(argv: string[]): Promise<number> {
  const v = parse(argv, { out: { type: 'string', short: 'o' }, models: { type: 'string' }, cpu: { type: 'boolean' }, cuda: { type: 'boolean' }, verbose: { type: 'boolean', short: 'v' }, engine: { type: 'string' } });
  if (flag(v, 'help')) {
    process.stdout.write(SELFTEST_HELP);
    return 0;
  }
  const out = resolve(str(v, 'out') ?? 'ipa-bridge-selftest.png');
  const say = (ok: boolean, text: string): void => void process.stderr.write(`${ok ? 'ok  ' : 'FAIL'}  ${text}\n`);
  const tmp = mkdtempSync(join(tmpdir(), 'ipa-selftest-'));
  let daemon: DaemonHandle | undefined;
  try {
    const spec = str(v, 'engine');
    const factory = await loadEngineFactory(spec);
    const modelsDir = str(v, 'models') ?? (await tinyModels(spec, join(tmp, 'models')));
    const engine = await factory({ modelsDir, provider: providerOf(v) });
    say(true, `engine loaded (${engine.provider}${modelsDir ? `, models in ${modelsDir}` : ''})`);

    const token = randomBytes(18).toString('base64url');
    const config: DaemonConfig = { ...DEFAULTS, token, port: 0, hosts: ['127.0.0.1'], provider: providerOf(v), modelsDir };
    daemon = await startDaemon({ config, engine, log: flag(v, 'verbose') ? createLogger(true) : silentLogger });
    const port = daemon.port;
    say(true, `daemon listening on 127.0.0.1:${port}`);

    await expectRefusal(() => connectBridge({ host: '127.0.0.1', port, token: 'wrong-token' }), /401/);
    say(true, 'a wrong token is refused (401)');
    await expectRefusal(() => connectBridge({ host: '127.0.0.1', port, token, origin: 'https://evil.example' }), /403/);
    say(true, 'a web page origin is refused (403)');

    const client = await connectBridge({ host: '127.0.0.1', port, token, clientName: 'selftest' });
    const caps = client.welcome!.capabilities;
    say(true, `handshake: protocol ${client.welcome!.protocol}, ${caps.models.length} models, provider ${caps.provider}`);

    const hasAdapter = caps.models.some((m) => /ip.?adapter/i.test(m.kind)) || caps.models.length === 0;
    const job: JobMessage = {
      type: 'job', jobId: `selftest-${Date.now()}`, prompt: 'a red apple on a table, selftest', seed: 1234, steps: 4, width: 64, height: 64,
      ...(hasAdapter ? { references: [{ source: 'frame', scale: 0.5 }] } : {}),
    };
    const reference = gradient(64, 64);
    let steps = 0;
    const t0 = Date.now();
    const r = await client.submit(job, hasAdapter ? { references: [{ format: 'raw-rgba8', width: 64, height: 64, data: reference }] } : {}, { onProgress: (m) => (steps = m.step) });
    client.close();
    const img = r.images[0];
    writeFileSync(out, img.data);
    const meta = await sharp(out).metadata();
    if (meta.format !== 'png' || meta.width !== 64 || meta.height !== 64) throw new Error(`the result is not a 64x64 PNG (${meta.format} ${meta.width}x${meta.height})`);
    say(true, `job ran ${steps} steps in ${Date.now() - t0} ms${hasAdapter ? ' with an image prompt' : ''}; wrote ${out}`);
    return 0;
  } catch (e) {
    say(false, (e as Error).message);
    return 1;
  } finally {
    await daemon?.close();
    rmSync(tmp, { recursive: true, force: true });
  }
}

async function expectRefusal(attempt: () => Promise<unknown>, status: RegExp): Promise<void> {
  try {
    await attempt();
  } catch (e) {
    if (e instanceof ConnectError && status.test(e.message)) return;
    throw e;
  }
  throw new Error(`connection was accepted but should have been refused (${status.source})`);
}

/** Tiny models from the engine, when it can write them; undefined = let the engine use its default folder. */
async function tinyModels(spec: string | undefined, dir: string): Promise<string | undefined> {
  if (spec && spec !== 'default') return undefined; // a test/alternative engine needs no files
  try {
    // @ts-ignore -- engine/index.ts is written in parallel (the engine issue).
    const mod = (await import('../../engine/index.ts')) as { writeTinyModels?: (dir: string) => Promise<unknown> };
    if (typeof mod.writeTinyModels !== 'function') return undefined;
    await mod.writeTinyModels(dir);
    return dir;
  } catch {
    return undefined; // loadEngineFactory already reported a missing engine
  }
}

function gradient(w: number, h: number): Uint8Array {
  const d = new Uint8Array(w * h * 4);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const o = (y * w + x) * 4;
      d[o] = (x * 255) / w; d[o + 1] = (y * 255) / h; d[o + 2] = 128; d[o + 3] = 255;
    }
  }
  return d;
}
