/** The CLI as a user runs it: token storage, help, start's safety checks, generate (daemon and --local), selftest. */
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, statSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { ROOT, startTestDaemon, type TestDaemon } from '../helpers/daemon.ts';
import { TestClient } from '../helpers/ws-client.ts';

const tmp = mkdtempSync(join(tmpdir(), 'ipa-cli-'));
let d: TestDaemon;

before(async () => {
  d = await startTestDaemon({ stepMs: 5, args: ['--job-burst', '3', '--job-rate', '0.01'] });
});

after(async () => {
  await d.stop();
});

function cli(args: string[], env: Record<string, string | undefined> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  const e: NodeJS.ProcessEnv = { ...process.env, IPA_BRIDGE_TOKEN: undefined, IPA_BRIDGE_CONFIG_DIR: undefined, ...env };
  for (const k of Object.keys(e)) if (e[k] === undefined) delete e[k];
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'bridge/cli.ts', ...args], { cwd: ROOT, env: e });
    let stdout = '';
    let stderr = '';
    p.stdout.setEncoding('utf8').on('data', (x: string) => (stdout += x));
    p.stderr.setEncoding('utf8').on('data', (x: string) => (stderr += x));
    p.on('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

test('token: created once with mode 0600 in the config dir; IPA_BRIDGE_TOKEN and XDG_CONFIG_HOME respected', async () => {
  const dir = join(tmp, 'cfg');
  const first = await cli(['token'], { IPA_BRIDGE_CONFIG_DIR: dir });
  assert.equal(first.code, 0, first.stderr);
  const token = first.stdout.trim();
  assert.ok(token.length >= 24);
  assert.equal(readFileSync(join(dir, 'token'), 'utf8').trim(), token);
  assert.equal(statSync(join(dir, 'token')).mode & 0o777, 0o600);
  assert.equal((await cli(['token'], { IPA_BRIDGE_CONFIG_DIR: dir })).stdout.trim(), token, 'stable');
  assert.equal((await cli(['token'], { IPA_BRIDGE_CONFIG_DIR: dir, IPA_BRIDGE_TOKEN: 'from-env-0123456789' })).stdout.trim(), 'from-env-0123456789');
  const xdg = join(tmp, 'xdg');
  const viaXdg = await cli(['token', '--path'], { XDG_CONFIG_HOME: xdg });
  if (process.platform === 'linux') assert.equal(viaXdg.stdout.trim(), join(xdg, 'ipa-bridge', 'token'));
  const reset = await cli(['token', '--reset', '--url', '--port', '5000'], { IPA_BRIDGE_CONFIG_DIR: dir });
  assert.match(reset.stdout, /^ws:\/\/127\.0\.0\.1:5000\/\?token=/);
  assert.ok(!reset.stdout.includes(token), 'a new token');
});

test('every command has a --help that lists its options', async () => {
  const main = await cli(['--help']);
  assert.equal(main.code, 0);
  for (const c of ['start', 'token', 'generate', 'selftest', 'models', 'doctor', 'install-cuda']) assert.match(main.stdout, new RegExp(`\\b${c}\\b`));
  const expects: Record<string, RegExp[]> = {
    start: [/--port/, /--models/, /--allow-remote/, /--max-payload/, /--provider <name>/, /--cuda/],
    doctor: [/--provider/, /--json/],
    'install-cuda': [/--check/],
    token: [/0600/, /IPA_BRIDGE_TOKEN/],
    generate: [/--style-scale/, /--pose/, /--mask/, /--local/, /Examples/],
    selftest: [/401/, /PNG/, /--write-models/, /--provider/],
  };
  for (const [c, res] of Object.entries(expects)) {
    const r = await cli([c, '--help']);
    assert.equal(r.code, 0, c);
    for (const re of res) assert.match(r.stdout, re, `${c} --help`);
  }
  const unknown = await cli(['frobnicate']);
  assert.equal(unknown.code, 2);
});

test('start refuses a non-loopback --host without --allow-remote', async () => {
  const r = await cli(['start', '--host', '0.0.0.0', '--port', '0', '--engine', 'test'], { IPA_BRIDGE_CONFIG_DIR: join(tmp, 'cfg2') });
  assert.equal(r.code, 2);
  assert.match(r.stderr, /--allow-remote/);
  const bad = await cli(['start', '--port', 'seventy'], { IPA_BRIDGE_CONFIG_DIR: join(tmp, 'cfg2') });
  assert.equal(bad.code, 2);
  assert.match(bad.stderr, /--port <n>' argument 'seventy' is invalid\. must be a whole number from 0 to 65535/);
});

test('generate through the daemon: style reference, pose JSON, init + mask with crop; PNG and metadata written', async () => {
  const W = 96, H = 64;
  const init = join(tmp, 'init.png');
  const mask = join(tmp, 'mask.png');
  const style = join(tmp, 'style.png');
  const pose = join(tmp, 'pose.json');
  await sharp({ create: { width: W, height: H, channels: 4, background: { r: 20, g: 40, b: 60, alpha: 1 } } }).png().toFile(init);
  const m = Buffer.alloc(W * H);
  for (let y = 16; y < 40; y++) for (let x = 24; x < 60; x++) m[y * W + x] = 255;
  await sharp(m, { raw: { width: W, height: H, channels: 1 } }).png().toFile(mask);
  await sharp({ create: { width: 40, height: 40, channels: 3, background: '#c04080' } }).png().toFile(style);
  const k = new Array(54).fill(0);
  k.splice(0, 6, 48, 10, 1, 48, 30, 1);
  writeFileSync(pose, JSON.stringify({ canvas_width: W, canvas_height: H, people: [{ pose_keypoints_2d: k }] }));
  const out = join(tmp, 'out.png');
  const r = await cli(['generate', '--prompt', 'a test', '--style', style, '--style-scale', '0.6', '--pose', pose, '--init', init, '--mask', mask, '--crop', '--strength', '0.9',
    '--seed', '11', '--steps', '3', '--sampler', 'euler', '--out', out, '--metadata', '--port', String(d.port)], { IPA_BRIDGE_TOKEN: d.token });
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrote .*out\.png and .*out\.json \(96x64, seed 11, 3 steps euler/);
  const meta = await sharp(out).metadata();
  assert.deepEqual([meta.width, meta.height], [W, H]);
  const json = JSON.parse(readFileSync(join(tmp, 'out.json'), 'utf8'));
  assert.ok(!existsSync(`${out}.json`), '--metadata writes FILE.json as the help says, not FILE.png.json');
  assert.equal(json.params.seed, 11);
  assert.equal(json.references[0].scale, 0.6);
  assert.equal(json.controls[0].type, 'pose');
  assert.ok(json.region);

  const refused = await cli(['generate', '--prompt', 'x', '--out', out, '--port', String(d.port)], { IPA_BRIDGE_TOKEN: 'wrong-token-123456' });
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /401/);
  const invalid = await cli(['generate', '--prompt', 'x', '--out', out, '--width', '100', '--height', '64', '--port', String(d.port)], { IPA_BRIDGE_TOKEN: d.token });
  assert.equal(invalid.code, 2, 'a width that is not a multiple of 8 is a usage mistake, refused before connecting');
  assert.match(invalid.stderr, /--width <n>' argument '100' is invalid\. must be a whole number that is a multiple of 8 from 64 to 4096/);
});

test('generate with regional image prompts: --style-mask limits the --style of its position; a misshapen mask is named by option and file', async () => {
  const half = async (file: string, left: boolean, w = 96, h = 64): Promise<string> => {
    const px = Buffer.alloc(w * h);
    for (let i = 0; i < px.length; i++) px[i] = (i % w < w / 2) === left ? 255 : 0;
    await sharp(px, { raw: { width: w, height: h, channels: 1 } }).png().toFile(join(tmp, file));
    return join(tmp, file);
  };
  const style = join(tmp, 'style-a.png');
  await sharp({ create: { width: 40, height: 40, channels: 3, background: '#208040' } }).png().toFile(style);
  const [left, right] = [await half('left.png', true), await half('right.png', false)];
  const out = join(tmp, 'regional.png');
  const base = ['generate', '--prompt', 'two regions', '--width', '96', '--height', '64', '--steps', '2', '--out', out, '--metadata', '--port', String(d.port)];
  const r = await cli([...base, '--style', style, '--style-mask', left, '--style', style, '--style-mask', right], { IPA_BRIDGE_TOKEN: d.token });
  assert.equal(r.code, 0, r.stderr);
  const json = JSON.parse(readFileSync(join(tmp, 'regional.json'), 'utf8'));
  assert.deepEqual(json.references.map((x: { mask?: { source: string } }) => x.mask?.source), ['hash', 'hash'], 'both masks recorded by hash');
  const square = await half('square.png', true, 64, 64);
  const bad = await cli([...base, '--style', style, '--style-mask', square], { IPA_BRIDGE_TOKEN: d.token });
  assert.equal(bad.code, 1);
  assert.match(bad.stderr, /--style-mask .*square\.png: the mask is 64x64, another shape than the 96x64 image/);
  const extra = await cli([...base, '--style', style, '--style-mask', left, '--style-mask', right], { IPA_BRIDGE_TOKEN: d.token });
  assert.equal(extra.code, 2);
  assert.match(extra.stderr, /--style-mask: 2 masks for 1 --style images/);
});

test('generate --local runs the engine in-process; batch files get suffixes', async () => {
  const out = join(tmp, 'local.png');
  const r = await cli(['generate', '--local', '--engine', 'test', '--prompt', 'local', '--steps', '2', '--width', '80', '--height', '64', '--batch', '2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  for (const f of ['local-1.png', 'local-2.png']) {
    const meta = await sharp(join(tmp, f)).metadata();
    assert.deepEqual([meta.width, meta.height], [80, 64]);
  }
});

test('selftest: private daemon, 401/403 checks, one job over a real WebSocket, a PNG', async () => {
  const out = join(tmp, 'selftest.png');
  const r = await cli(['selftest', '--engine', 'test', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /wrong token is refused \(401\)/);
  assert.match(r.stderr, /origin is refused \(403\)/);
  assert.ok(existsSync(out));
  assert.equal((await sharp(out).metadata()).format, 'png');
});

test('per-connection job rate limit', async () => {
  const { c } = await TestClient.connect(d.url());
  for (let i = 0; i < 4; i++) c.send({ type: 'job', jobId: `rl${i}`, prompt: 'x', steps: 1, width: 64, height: 64 });
  const e = await c.expect('error', 'rl3');
  assert.equal(e.code, 'rate-limited');
  for (let i = 0; i < 3; i++) await c.expect('result', `rl${i}`);
  c.close();
});
