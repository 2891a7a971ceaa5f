/**
 * `ipa-bridge selftest`: a private daemon on a free loopback port, the security checks a user can see
 * (wrong token → 401, web Origin → 403), one real job through a real WebSocket, a PNG on disk.
 * The engine is the real one unless --engine names another module; without --models it runs on tiny
 * generated models (engine/index.ts `writeTinyModels(dir)`), in a temporary folder together with the
 * graph and hash caches they produce, so a run leaves nothing behind but the PNG
 * (and the models themselves with --write-models DIR). `--family sdxl` runs an SDXL job instead, on
 * tiny SDXL models (engine/synthetic/tiny-sdxl.ts), with an image prompt, a ControlNet and a LoRA.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Command } from 'commander';
import sharp from 'sharp';
import type { JobInputs } from '../../shared/protocol/client.ts';
import type { JobMessage } from '../../shared/protocol/messages.ts';
import { DEFAULTS, type DaemonConfig } from '../config.ts';
import { ConnectError, connectBridge } from '../connect.ts';
import { loadEngineFactory } from '../engine-loader.ts';
import { createLogger, silentLogger } from '../log.ts';
import { startDaemon, type DaemonHandle } from '../server.ts';
import { addEngineOption, addProviderOptions, providerFrom, UsageError, type ProviderFlags } from './args.ts';
import { SELFTEST_HELP_AFTER } from './help.ts';
import { checkOutput } from './output.ts';

interface SelftestOptions extends ProviderFlags {
  readonly out: string;
  readonly models?: string;
  readonly writeModels?: string;
  readonly verbose?: boolean;
  readonly engine?: string;
  readonly family?: string;
}

type Family = 'sd15' | 'sdxl';

export function selftestCommand(ran: (code: number) => void): Command {
  const cmd = new Command('selftest')
    .description('start a private daemon, run one job through a real WebSocket, write a PNG')
    .option('-o, --out <file>', 'where to write the result PNG', 'ipa-bridge-selftest.png')
    .option('--models <dir>', 'run on these models instead of tiny generated ones')
    .option('--write-models <dir>', 'write the tiny generated models to DIR and keep them (for "start --models DIR" and scripts)')
    .option('--family <family>', 'model family of the job: sd15, or sdxl (an SDXL job with an image prompt, a ControlNet and a LoRA)', 'sd15');
  addProviderOptions(cmd);
  cmd.option('-v, --verbose', 'log what the private daemon does').addHelpText('after', SELFTEST_HELP_AFTER);
  addEngineOption(cmd);
  return cmd.action(async (o: SelftestOptions) => ran(await runSelftest(o)));
}

export async function runSelftest(o: SelftestOptions): Promise<number> {
  if (o.models && o.writeModels) throw new UsageError('choose one of --models (use existing models) and --write-models (write tiny ones)');
  if (o.models && !existsSync(o.models)) throw new UsageError(`--models ${o.models}: no such folder`);
  if (o.writeModels && existsSync(o.writeModels) && readdirSync(o.writeModels).length > 0) throw new UsageError(`--write-models ${o.writeModels}: the folder is not empty (choose a new or empty one)`);
  const family = o.family ?? 'sd15';
  if (family !== 'sd15' && family !== 'sdxl') throw new UsageError(`--family ${family}: choose sd15 or sdxl`);
  const out = resolve(checkOutput(o.out).path);
  const say = (ok: boolean, text: string): void => void process.stderr.write(`${ok ? 'ok  ' : 'FAIL'}  ${text}\n`);
  const tmp = mkdtempSync(join(tmpdir(), 'ipa-selftest-'));
  const provider = providerFrom(o);
  let daemon: DaemonHandle | undefined;
  try {
    const factory = await loadEngineFactory(o.engine);
    let modelsDir = o.models;
    if (!modelsDir && (o.writeModels || !o.engine || o.engine === 'default')) {
      modelsDir = o.writeModels ? resolve(o.writeModels) : join(tmp, 'models');
      await writeTinyModels(modelsDir, family);
      // The graphs and hashes of throw-away models go with them (about 7 MB a run otherwise).
      process.env.IPA_BRIDGE_CACHE_DIR = join(tmp, 'cache');
      say(true, `tiny random-weight ${family === 'sdxl' ? 'SDXL ' : ''}models written to ${modelsDir}`);
    }
    const engine = await factory({ modelsDir, provider });
    say(true, `engine loaded (${engine.provider}${modelsDir ? `, models in ${modelsDir}` : ''})`);

    const token = randomBytes(18).toString('base64url');
    const config: DaemonConfig = { ...DEFAULTS, token, port: 0, hosts: ['127.0.0.1'], provider, modelsDir };
    daemon = await startDaemon({ config, engine, log: o.verbose ? createLogger(true) : silentLogger });
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
    const reference = gradient(64, 64);
    const { job, inputs } = family === 'sdxl' ? sdxlJob(caps.models, reference) : {
      job: {
        type: 'job', jobId: `selftest-${Date.now()}`, prompt: 'a red apple on a table, selftest', seed: 1234, steps: 4, width: 64, height: 64,
        ...(hasAdapter ? { references: [{ source: 'frame', scale: 0.5 }] } : {}),
      } satisfies JobMessage,
      inputs: hasAdapter ? { references: [{ format: 'raw-rgba8' as const, width: 64, height: 64, data: reference }] } : {},
    };
    let steps = 0;
    const t0 = Date.now();
    const r = await client.submit(job, inputs, { onProgress: (m) => (steps = m.step) });
    client.close();
    const img = r.images[0];
    writeFileSync(out, img.data);
    const meta = await sharp(out).metadata();
    if (meta.format !== 'png' || meta.width !== 64 || meta.height !== 64) throw new Error(`the result is not a 64x64 PNG (${meta.format} ${meta.width}x${meta.height})`);
    const family_ = r.result.metadata.family ? ` (${r.result.metadata.family === 'sdxl' ? 'SDXL' : 'SD1.5'})` : '';
    const extras = family === 'sdxl' ? ' with an image prompt, a ControlNet and a LoRA' : hasAdapter ? ' with an image prompt' : '';
    if (family === 'sdxl' && r.result.metadata.family !== 'sdxl') throw new Error(`the job ran on a ${r.result.metadata.family ?? 'unknown'}-family checkpoint, not SDXL`);
    say(true, `job ran ${steps} steps in ${Date.now() - t0} ms${family_}${extras}; wrote ${out}`);
    if (o.writeModels) say(true, `the tiny models stay in ${modelsDir}; try: npx ipa-bridge start --models ${modelsDir}`);
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

/** The engine's tiny model set (real topology, random weights), loaded only when needed. */
async function writeTinyModels(dir: string, family: Family): Promise<void> {
  const mod = await import('../../engine/index.ts');
  if (family === 'sdxl') await mod.writeTinySdxlModels(dir);
  else await mod.writeTinyModels(dir);
}

/**
 * The SDXL job: the installed SDXL checkpoint (the tiny one, or the first the daemon lists), an image
 * prompt, an OpenPose ControlNet on a plain image and the first SDXL LoRA, when installed.
 */
function sdxlJob(models: ReadonlyArray<{ name: string; kind: string; base?: string }>, reference: Uint8Array): { job: JobMessage; inputs: JobInputs } {
  const checkpoint = models.find((m) => m.kind === 'checkpoint:sdxl');
  if (!checkpoint) throw new Error('no SDXL checkpoint (checkpoint:sdxl) among the daemon\'s models');
  const adapter = models.some((m) => m.kind === 'ipadapter:sdxl-base');
  const control = models.some((m) => m.kind === 'controlnet:sdxl-pose');
  const lora = models.find((m) => m.kind.startsWith('lora') && m.base === 'sdxl');
  const frame = { format: 'raw-rgba8' as const, width: 64, height: 64, data: reference };
  const job: JobMessage = {
    type: 'job', jobId: `selftest-sdxl-${Date.now()}`, prompt: 'a red apple on a table, selftest', negativePrompt: 'blurry', seed: 1234, steps: 4, width: 64, height: 64,
    checkpoint: checkpoint.name,
    ...(adapter ? { references: [{ source: 'frame', scale: 0.5 }] } : {}),
    ...(control ? { controls: [{ source: 'frame', type: 'pose', preprocess: 'none', scale: 0.8 }] } : {}),
    ...(lora ? { loras: [{ model: lora.name, strength: 0.7 }] } : {}),
  };
  return { job, inputs: { ...(adapter ? { references: [frame] } : {}), ...(control ? { controls: [frame] } : {}) } };
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
