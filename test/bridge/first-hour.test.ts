/**
 * Issue 16, "the first hour": each problem a new user hit, as they hit it — real CLI processes, a real
 * daemon (the real engine on the tiny generated models, and the test engine), a real WebSocket, and
 * the local stand-in for the model hub. Nothing of our own is mocked.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import sharp from 'sharp';
import { readPngText } from '../../bridge/png-text.ts';
import { ROOT, spawnListening, type Listening } from '../helpers/spawn.ts';
import { startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestClient } from '../helpers/ws-client.ts';
import { COMMIT, startHub } from '../models/hub-server.ts';
import { closedPort } from '../helpers/ports.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ipa-first-hour-'));
/** A user's machine: its own config, caches and (empty) Hugging Face cache. */
const HOME: Record<string, string> = {
  IPA_BRIDGE_CONFIG_DIR: join(tmp, 'config'),
  IPA_BRIDGE_CACHE_DIR: join(tmp, 'cache'),
  HF_HOME: join(tmp, 'hf'),
  XDG_DATA_HOME: join(tmp, 'data'),
};

interface Run {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

function cli(args: string[], env: Record<string, string | undefined> = {}, cwd = ROOT): Promise<Run> {
  const e: NodeJS.ProcessEnv = { ...process.env, IPA_BRIDGE_TOKEN: undefined, HF_ENDPOINT: undefined, HF_HUB_CACHE: undefined, ...HOME, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bridge', 'cli.ts'), ...args], { cwd, env: e });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (x: string) => (stdout += x));
    p.stderr.setEncoding('utf8').on('data', (x: string) => (stderr += x));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

async function png(path: string, w = 32, h = 32): Promise<string> {
  await sharp({ create: { width: w, height: h, channels: 3, background: '#3080c0' } }).png().toFile(path);
  return path;
}


/** The folder-hash definition of docs/models.md, computed here independently: sha256 of "<sha256>  <path>\n" lines, sorted. */
function folderSha256(dir: string): string {
  const files: string[] = [];
  const walk = (d: string): void => {
    for (const n of readdirSync(d, { withFileTypes: true })) {
      if (n.name.startsWith('.')) continue;
      if (n.isDirectory()) walk(join(d, n.name));
      else files.push(relative(dir, join(d, n.name)).split(sep).join('/'));
    }
  };
  walk(dir);
  const h = createHash('sha256');
  for (const f of files.sort()) h.update(`${createHash('sha256').update(readFileSync(join(dir, f))).digest('hex')}  ${f}\n`);
  return h.digest('hex');
}

// ------------------------------------------------------------------------------------------------
// 1. Missing models are reported.

describe('missing models are reported', () => {
  test('start with no models says what each feature lacks and the command that fixes it; the handshake carries the same list', async () => {
    const empty = mkdtempSync(join(tmp, 'no-models-'));
    const d = await spawnListening(['--import', 'tsx', 'bridge/cli.ts', 'start', '--port', '0', '--models', empty], { env: { ...process.env, ...HOME, IPA_BRIDGE_TOKEN: 'first-hour-token-0123' }, what: 'daemon' });
    try {
      await waitFor(() => /ready on/.test(d.log()));
      const log = d.log();
      assert.match(log, /models in .*no-models-.*: none found/);
      assert.match(log, /warning: text to image: no Stable Diffusion 1\.5 or SDXL checkpoint, no CLIP tokenizer — npx ipa-bridge models pull sd15-style/);
      assert.match(log, /warning: image prompts: no IP-Adapter, no ViT-H image encoder — npx ipa-bridge models pull sd15-style/);
      assert.match(log, /warning: FaceID: .* — npx ipa-bridge models pull faceid/);
      assert.match(log, /ready on .*; 8 features lack models: see the warnings above\)/);
      const { c, welcome } = await TestClient.connect(`ws://127.0.0.1:${d.port}/?token=first-hour-token-0123`);
      c.close();
      const missing = welcome.capabilities.missing ?? [];
      assert.deepEqual(missing.find((m) => m.feature === 'image prompts'), { feature: 'image prompts', lacks: ['IP-Adapter', 'ViT-H image encoder'], roles: ['ipadapter:base', 'clip_vision:vit-h'], command: 'npx ipa-bridge models pull sd15-style' });
      assert.equal(missing.length, 8);
    } finally {
      await stop(d);
    }
  });

  test('start --models /nonexistent/dir warns that the folder does not exist', async () => {
    const d = await spawnListening(['--import', 'tsx', 'bridge/cli.ts', 'start', '--port', '0', '--engine', 'test', '--models', '/nonexistent/dir'], { env: { ...process.env, ...HOME, IPA_BRIDGE_TOKEN: 'first-hour-token-0123' }, what: 'daemon' });
    try {
      await waitFor(() => /ready on/.test(d.log()));
      assert.match(d.log(), /warning: --models \/nonexistent\/dir: no such folder/);
    } finally {
      await stop(d);
    }
  });

  test('models list --models /nonexistent/dir says the folder does not exist (exit 2), not "pull 6.8 GB"', async () => {
    const r = await cli(['models', 'list', '--models', '/nonexistent/dir']);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--models \/nonexistent\/dir: no such folder/);
    assert.doesNotMatch(r.stdout, /sd15-style/);
  });
});

// ------------------------------------------------------------------------------------------------
// 2, 7, 8: the tiny models, the tokenizer, hashes, selftest, the log.

describe('tiny models from selftest, the real engine on them', () => {
  const models = join(tmp, 'tiny-models');
  let d: Listening;
  const token = 'first-hour-token-4567';

  before(async () => {
    const cache = join(tmp, 'selftest-cache');
    mkdirSync(cache, { recursive: true });
    const r = await cli(['selftest', '--write-models', models, '--out', join(tmp, 'selftest.png')], { IPA_BRIDGE_CACHE_DIR: cache });
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /the tiny models stay in .*tiny-models; try: npx ipa-bridge start --models/);
    // 8. selftest cleans up after itself: its graphs and hashes went with its temporary folder.
    assert.deepEqual(readdirSync(cache), [], 'nothing left in the cache folder');
    d = await spawnListening(['--import', 'tsx', 'bridge/cli.ts', 'start', '--port', '0', '--models', models], { env: { ...process.env, ...HOME, IPA_BRIDGE_TOKEN: token }, what: 'daemon' });
    await waitFor(() => /ready on/.test(d.log()));
  });

  after(async () => {
    if (d) await stop(d);
  });

  test('selftest without --write-models leaves no models and no cache behind', async () => {
    const cache = join(tmp, 'selftest-cache-2');
    mkdirSync(cache, { recursive: true });
    const r = await cli(['selftest', '--out', join(tmp, 'selftest2.png')], { IPA_BRIDGE_CACHE_DIR: cache });
    assert.equal(r.code, 0, r.stderr);
    const written = /tiny random-weight models written to (\S+)/.exec(r.stderr)?.[1];
    assert.ok(written && !existsSync(written), `the tiny models (${written}) are gone`);
    assert.deepEqual(readdirSync(cache), [], 'and so are their graphs and hashes');
    const w = await cli(['selftest', '--write-models', models]);
    assert.equal(w.code, 2, 'refuses to write into a folder that is not empty');
    assert.match(w.stderr, /--write-models .*tiny-models: the folder is not empty/);
  });

  test('start --models DIR reports what it found per role; only the features those models cannot serve are missing', () => {
    const log = d.log();
    assert.match(log, /models in .*tiny-models: \d+ found/);
    assert.match(log, /  checkpoint: tiny-sd15/);
    assert.match(log, /  tokenizer: tokenizer/);
    assert.match(log, /  ipadapter:base: /);
    assert.doesNotMatch(log, /text to image: no/);
    assert.doesNotMatch(log, /image prompts: no/);
    assert.match(log, /canny control: no Canny ControlNet — npx ipa-bridge models pull sd15-style/);
  });

  test('metadata: the sha256 of every model, diffusers folders and tokenizers included; AutoV2 for the checkpoint; FILE.json', async () => {
    const out = join(tmp, 'meta.png');
    const r = await cli(['generate', '--prompt', 'a red apple', '--style', await png(join(tmp, 'style.png')), '--width', '64', '--height', '64', '--steps', '2', '--seed', '7', '--metadata', '--out', out, '--port', String(d.port)], { IPA_BRIDGE_TOKEN: token });
    assert.equal(r.code, 0, r.stderr);
    assert.ok(!existsSync(`${out}.json`));
    const meta = JSON.parse(readFileSync(join(tmp, 'meta.json'), 'utf8')) as { models: Record<string, { name: string; sha256: string; autoV2?: string }> };
    for (const [role, m] of Object.entries(meta.models)) assert.match(m.sha256, /^[0-9a-f]{64}$/, `${role} (${m.name}) has its sha256`);
    assert.equal(meta.models.checkpoint.sha256, folderSha256(join(models, 'checkpoints', 'tiny-sd15')), 'a diffusers folder: the hash of its files\' hashes, as docs/models.md defines it');
    assert.equal(meta.models.checkpoint.autoV2, meta.models.checkpoint.sha256.slice(0, 10));
    assert.equal(meta.models.tokenizer.sha256, folderSha256(join(models, 'tokenizer')));
    const text = readPngText(readFileSync(out)).parameters ?? '';
    assert.match(text, new RegExp(`Model hash: ${meta.models.checkpoint.sha256.slice(0, 10)}`));
  });

  test('models in the Hugging Face cache layout (snapshot symlinks to blobs) generate, and hash as they do elsewhere', async () => {
    // What `models pull` and huggingface_hub leave: blobs/<sha256> and snapshots/<commit>/<path> -> ../../blobs/<sha256>.
    const cache = join(tmp, 'hf-layout', 'hub');
    const commit = 'c'.repeat(40);
    const add = (repo: string, src: string): void => {
      const repoDir = join(cache, `models--${repo.replace('/', '--')}`);
      const walk = (d: string): void => {
        for (const n of readdirSync(d, { withFileTypes: true })) {
          const p = join(d, n.name);
          if (n.isDirectory()) { walk(p); continue; }
          const bytes = readFileSync(p);
          const blob = join(repoDir, 'blobs', createHash('sha256').update(bytes).digest('hex'));
          mkdirSync(join(repoDir, 'blobs'), { recursive: true });
          writeFileSync(blob, bytes);
          const pointer = join(repoDir, 'snapshots', commit, relative(src, p));
          mkdirSync(join(pointer, '..'), { recursive: true });
          symlinkSync(relative(join(pointer, '..'), blob), pointer);
        }
      };
      walk(src);
    };
    add('tiny/sd15', join(models, 'checkpoints', 'tiny-sd15'));
    add('tiny/tokenizer', join(models, 'tokenizer'));
    add('tiny/ipadapter', join(models, 'ipadapter'));
    add('tiny/clip_vision', join(models, 'clip_vision'));
    const out = join(tmp, 'hf-layout.png');
    const r = await cli(['generate', '--local', '--models', cache, '--prompt', 'a cat', '--style', await png(join(tmp, 'style2.png')), '--width', '64', '--height', '64', '--steps', '2', '--metadata', '--out', out]);
    assert.equal(r.code, 0, r.stderr);
    const meta = JSON.parse(readFileSync(join(tmp, 'hf-layout.json'), 'utf8')) as { models: Record<string, { name: string; sha256: string }> };
    assert.equal(meta.models.checkpoint.name, 'tiny/sd15');
    assert.equal(meta.models.checkpoint.sha256, folderSha256(join(models, 'checkpoints', 'tiny-sd15')), 'the same files, the same hash, wherever they sit');
  });

  test('the daemon log shows sane steps for a batch and for a failed job', async () => {
    const out = join(tmp, 'batch.png');
    const r = await cli(['generate', '--prompt', 'batch', '--width', '64', '--height', '64', '--steps', '2', '--batch', '3', '--out', out, '--port', String(d.port)], { IPA_BRIDGE_TOKEN: token });
    assert.equal(r.code, 0, r.stderr);
    await waitFor(() => /job cli-\w+ 64x64 steps=\d+\/\d+ \(batch of 3\)/.test(d.log()));
    const [, done, total] = /job cli-\w+ 64x64 steps=(\d+)\/(\d+) \(batch of 3\)/.exec(d.log())!;
    assert.equal(done, total, `steps done equal the engine's total (${done}/${total}), never more`);
    const failed = await cli(['generate', '--prompt', 'x', '--checkpoint', 'no-such-model.safetensors', '--width', '64', '--height', '64', '--out', join(tmp, 'f.png'), '--port', String(d.port)], { IPA_BRIDGE_TOKEN: token });
    assert.equal(failed.code, 1);
    await waitFor(() => /job cli-\w+ 64x64 no steps run total .* error /.test(d.log()));
    assert.doesNotMatch(d.log(), /steps=0\/20/);
  });
});

// ------------------------------------------------------------------------------------------------
// 3, 4, 5, 6 and the exit codes: the command line, checked before any work.

describe('generate checks every option and file before any work', () => {
  let d: TestDaemon;
  before(async () => {
    d = await startTestDaemon({ stepMs: 2, args: ['--max-input-pixels', '4096'] });
  });
  after(async () => {
    await d.stop();
  });
  const gen = (args: string[]) => cli(['generate', '--prompt', 'x', ...args, '--port', String(d.port)], { IPA_BRIDGE_TOKEN: d.token });

  test('unreadable image inputs name the option and the file', async () => {
    const notImage = join(tmp, 'notimage.png');
    writeFileSync(notImage, 'hello, not a picture');
    const a = await gen(['--style', notImage, '--out', join(tmp, 'a.png')]);
    assert.equal(a.code, 2);
    assert.match(a.stderr, new RegExp(`--style ${notImage}: not an image \\(PNG, JPEG, WebP, TIFF, GIF\\)`));
    const b = await gen(['--init', join(tmp, 'x.png'), '--out', join(tmp, 'a.png')]);
    assert.equal(b.code, 2);
    assert.match(b.stderr, /--init .*x\.png: no such file/);
    assert.doesNotMatch(b.stderr, /ENOENT/);
  });

  test('the output is checked first: a folder, a missing folder or an unknown extension fail before the job', async () => {
    const port = await closedPort(); // no daemon there: an --out error proves nothing was attempted
    const noDaemon = (out: string) => cli(['generate', '--prompt', 'x', '--out', out, '--port', String(port)], { IPA_BRIDGE_TOKEN: 'whatever-token-0123' });
    const dir = await noDaemon(tmp);
    assert.equal(dir.code, 2);
    assert.match(dir.stderr, /--out .*: is a folder; name a file in it/);
    const missing = await noDaemon('/nonexistent/dir/x.png');
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /--out \/nonexistent\/dir\/x\.png: the folder \/nonexistent\/dir does not exist/);
    const gif = await noDaemon(join(tmp, 'x.gif'));
    assert.equal(gif.code, 2);
    assert.match(gif.stderr, /use \.png, \.jpg, \.jpeg or \.webp \(not \.gif\)/);
  });

  test('the extension picks the format: JPEG and WebP with the parameters in EXIF, PNG with its text chunk', async () => {
    for (const [ext, format] of [['jpg', 'jpeg'], ['webp', 'webp'], ['png', 'png']] as const) {
      const out = join(tmp, `fmt.${ext}`);
      const r = await gen(['--seed', '5', '--steps', '1', '--width', '64', '--height', '64', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      const meta = await sharp(out).metadata();
      assert.equal(meta.format, format, ext);
      const text = format === 'png' ? readPngText(readFileSync(out)).parameters ?? '' : meta.exif?.toString('latin1') ?? '';
      assert.match(text, /Steps: 1, Sampler: .*Seed: 5/, `${ext} carries the A1111 parameters`);
    }
  });

  test('oversize inputs name --style, the limit and the flag that raises it', async () => {
    const big = await png(join(tmp, 'big.png'), 100, 100);
    const r = await gen(['--style', big, '--out', join(tmp, 'o.png')]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--style .*big\.png: 100x100 is 10000 pixels, over the input limit of 4096 \(the daemon's limit: raise it with "npx ipa-bridge start --max-input-pixels N"/);
    assert.doesNotMatch(r.stderr, /references\[0\]/);
    const local = await cli(['generate', '--local', '--engine', 'test', '--prompt', 'x', '--style', big, '--max-input-pixels', '4096', '--out', join(tmp, 'o.png')]);
    assert.equal(local.code, 2);
    assert.match(local.stderr, /over the input limit of 4096 \(raise it with --max-input-pixels N/);
  });

  test('--seed -1 means random; negative numbers reach the parser', async () => {
    const seeds: number[] = [];
    for (let i = 0; i < 2; i++) {
      const out = join(tmp, `rand${i}.png`);
      const r = await gen(['--seed', '-1', '--steps', '1', '--width', '64', '--height', '64', '--metadata', '--out', out]);
      assert.equal(r.code, 0, r.stderr);
      seeds.push((JSON.parse(readFileSync(join(tmp, `rand${i}.json`), 'utf8')) as { params: { seed: number } }).params.seed);
    }
    assert.ok(seeds.every((s) => Number.isInteger(s) && s >= 0), `random seeds ${seeds}`);
    assert.notEqual(seeds[0], seeds[1]);
    const neg = await gen(['--seed', '-2', '--out', join(tmp, 'n.png')]);
    assert.equal(neg.code, 2);
    assert.match(neg.stderr, /--seed <n>' argument '-2' is invalid\. must be a whole number from 0 to 4294967295 \(or -1\)/);
  });

  test('exit code 2 for every usage mistake, 1 for failures', async () => {
    const out = join(tmp, 'e.png');
    for (const w of ['8', '70']) {
      const r = await gen(['--width', w, '--out', out]);
      assert.equal(r.code, 2, `--width ${w}`);
      assert.match(r.stderr, /--width <n>' argument .* must be a whole number that is a multiple of 8 from 64 to 4096/);
    }
    const none = await cli(['models', 'pull']);
    assert.equal(none.code, 2);
    const unknown = await cli(['models', 'pull', 'nope']);
    assert.equal(unknown.code, 2);
    assert.match(unknown.stderr, /unknown preset "nope"; available: sd15-style, tokenizer, faceid, annotators/);
    const both = await cli(['start', '--cpu', '--cuda']);
    assert.equal(both.code, 2);
    const provider = await cli(['start', '--provider', 'cpu', '--cuda']);
    assert.equal(provider.code, 2);
    assert.match(provider.stderr, /option '--provider <name>' cannot be used with option '--cuda'/);
    const bad = await cli(['start', '--provider', 'metal']);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /must be one of auto, cpu, webgpu, coreml, dml, cuda, tensorrt/);
    const refused = await cli(['generate', '--prompt', 'x', '--out', out, '--port', String(await closedPort())], { IPA_BRIDGE_TOKEN: 'whatever-token-0123' });
    assert.equal(refused.code, 1, 'no daemon: a failure, not a usage mistake');
  });

  test('each subcommand has its own help', async () => {
    for (const [args, re] of [[['models', 'list', '--help'], /Usage: ipa-bridge models list \[options\][\s\S]*--no-hash/], [['models', 'pull', '--help'], /Usage: ipa-bridge models pull \[options\] <preset>[\s\S]*sd15-style, tokenizer/], [['help', 'generate'], /--style-scale/]] as const) {
      const r = await cli([...args]);
      assert.equal(r.code, 0, args.join(' '));
      assert.match(r.stdout, re);
    }
  });
});

// ------------------------------------------------------------------------------------------------
// 2, 8: the tokenizer alone from the hub; an unreachable hub.

describe('the hub', () => {
  test('models pull tokenizer fetches just the tokenizer files into the Hugging Face cache, where the registry finds them', async () => {
    const vocab = Buffer.from(JSON.stringify({ '<|startoftext|>': 0, '<|endoftext|>': 1 }));
    const merges = Buffer.from('#version: 0.2\nt h\n');
    const hub = await startHub({ files: [{ repo: 'openai/clip-vit-large-patch14', path: 'vocab.json', content: vocab, lfs: false }, { repo: 'openai/clip-vit-large-patch14', path: 'merges.txt', content: merges, lfs: false }] });
    try {
      const hf = mkdtempSync(join(tmp, 'hf-'));
      const r = await cli(['models', 'pull', 'tokenizer'], { HF_ENDPOINT: hub.endpoint, HF_HOME: hf });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /tokenizer: all 2 files in place/);
      assert.deepEqual(readFileSync(join(hf, 'hub', 'models--openai--clip-vit-large-patch14', 'snapshots', COMMIT, 'vocab.json')), vocab);
      const list = await cli(['models', 'list', '--json'], { HF_HOME: hf });
      const parsed = JSON.parse(list.stdout) as { models: Array<{ name: string; kind: string; sha256: string }> };
      assert.deepEqual(parsed.models.map((m) => [m.name, m.kind]), [['openai/clip-vit-large-patch14', 'tokenizer']]);
      assert.match(parsed.models[0].sha256, /^[0-9a-f]{64}$/);
    } finally {
      await hub.close();
    }
  });

  test('an unreachable HF_ENDPOINT says which host, why, and that it came from HF_ENDPOINT', async () => {
    const port = await closedPort();
    const r = await cli(['models', 'pull', 'tokenizer'], { HF_ENDPOINT: `http://127.0.0.1:${port}` });
    assert.equal(r.code, 1);
    assert.match(r.stderr, new RegExp(`cannot reach 127\\.0\\.0\\.1:${port}; are you offline\\? \\(ECONNREFUSED\\) \\(HF_ENDPOINT is http://127\\.0\\.0\\.1:${port}: is that server running\\?\\)`));
    assert.doesNotMatch(r.stderr, /^error: fetch failed$/m);
  });
});

async function waitFor(cond: () => boolean, ms = 30_000): Promise<void> {
  const end = Date.now() + ms;
  while (!cond()) {
    if (Date.now() > end) throw new Error('timed out');
    await new Promise((r) => setTimeout(r, 50));
  }
}

async function stop(d: Listening): Promise<void> {
  if (d.proc.exitCode === null) d.proc.kill('SIGTERM');
  await d.exited;
}
