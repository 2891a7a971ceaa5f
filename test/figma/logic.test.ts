/**
 * Host-independent plugin logic (shared/plugin/ and the Figma paint helpers): pixel-budget fitting,
 * grid layout, reconnect backoff and states, the connection driver over fake sockets, settings parsing,
 * job building (checked with the daemon's own validator) and generation records.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { exportScale, fits, generationSize, scaledSize } from '../../shared/plugin/budget.ts';
import { BridgeConnection, CLOSE_VERSION_MISMATCH, probeUrl, socketUrl, type ConnectionDeps } from '../../shared/plugin/connection.ts';
import { defaultGap, gridBeside } from '../../shared/plugin/grid.ts';
import { buildJob, newJobId } from '../../shared/plugin/job.ts';
import { resultName } from '../../shared/plugin/naming.ts';
import { createRecord, parseRecord, repeatFromRecord } from '../../shared/plugin/record.ts';
import { backoffDelay, DEFAULT_BACKOFF, problemHelp, transition, type ConnectionState } from '../../shared/plugin/reconnect.ts';
import { DEFAULT_SETTINGS, parseConnection, parseSettings } from '../../shared/plugin/settings.ts';
import type { SocketLike } from '../../shared/protocol/client.ts';
import { PROTOCOL_VERSION } from '../../shared/protocol/constants.ts';
import { DEFAULT_MAX_BATCH, DEFAULT_MAX_PIXELS } from '../../shared/protocol/limits.ts';
import type { ResultMetadata, WelcomeMessage } from '../../shared/protocol/messages.ts';
import { validateJob } from '../../shared/protocol/validate.ts';
import { withGeneratedImage, withoutGeneratedImage, parsePaintState } from '../../plugins/figma/src/paints.ts';

const CAPS = { maxPixels: DEFAULT_MAX_PIXELS, maxBatch: DEFAULT_MAX_BATCH };

describe('pixel budget', () => {
  const budget = { maxPixels: 1024 * 1024, maxSide: 4096 };

  test('fills the budget for large and small nodes, never over it after rounding', () => {
    for (const [w, h] of [[1440, 900], [100, 100], [1, 1], [333.3, 777.7], [4096, 4096], [20000, 100], [100, 20000], [1920, 1080], [10, 3000]]) {
      const s = exportScale({ width: w, height: h }, budget);
      const px = scaledSize({ width: w, height: h }, s);
      assert.ok(fits(px, budget), `${w}x${h} at ${s} → ${px.width}x${px.height}`);
    }
    const hero = scaledSize({ width: 1440, height: 900 }, exportScale({ width: 1440, height: 900 }, budget));
    assert.ok(hero.width * hero.height > 0.99 * budget.maxPixels);
    assert.ok(Math.abs(hero.width / hero.height - 1.6) < 0.01, 'aspect ratio kept');
    // A small vector node is rendered larger (crisper than upscaling pixels).
    assert.equal(exportScale({ width: 256, height: 256 }, budget), 4);
  });

  test('the side limit wins for long strips; the scale bounds hold', () => {
    const s = exportScale({ width: 20000, height: 100 }, budget);
    assert.ok(scaledSize({ width: 20000, height: 100 }, s).width <= 4096);
    assert.equal(exportScale({ width: 1, height: 1 }, { ...budget, maxScale: 16 }), 16);
    assert.equal(exportScale({ width: 1e6, height: 1e6 }, { ...budget, minScale: 0.01 }), 0.01);
  });

  test('generation size: multiples of 8, ≥ 64, about 512² for SD1.5, never over maxPixels', () => {
    assert.deepEqual(generationSize({ width: 1000, height: 1000 }, 512 * 512, 1 << 20), { width: 512, height: 512 });
    const wide = generationSize({ width: 1440, height: 900 }, 512 * 512, 1 << 20);
    assert.equal(wide.width % 8, 0);
    assert.equal(wide.height % 8, 0);
    assert.ok(Math.abs(wide.width / wide.height - 1.6) < 0.05);
    const strip = generationSize({ width: 10000, height: 10 }, 512 * 512, 1 << 20);
    assert.ok(strip.height >= 64 && strip.width <= 8 * strip.height + 8);
    const tight = generationSize({ width: 100, height: 100 }, 512 * 512, 200 * 200);
    assert.ok(tight.width * tight.height <= 200 * 200);
  });
});

describe('grid layout', () => {
  const anchor = { x: 100, y: 50, width: 200, height: 100 };

  test('one variation sits right of the source, top-aligned', () => {
    assert.deepEqual(gridBeside(anchor, 1, anchor, { gap: 20 }), [{ x: 320, y: 50 }]);
  });

  test('four make 2×2, three make 2+1, row by row', () => {
    const four = gridBeside(anchor, 4, anchor, { gap: 20 });
    assert.deepEqual(four, [{ x: 320, y: 50 }, { x: 540, y: 50 }, { x: 320, y: 170 }, { x: 540, y: 170 }]);
    assert.deepEqual(gridBeside(anchor, 3, anchor, { gap: 20 }).map((p) => p.y), [50, 50, 170]);
    assert.equal(new Set(gridBeside(anchor, 8, anchor, { gap: 0 }).map((p) => `${p.x},${p.y}`)).size, 8, 'no overlaps');
    assert.deepEqual(gridBeside(anchor, 0, anchor, { gap: 20 }), []);
    assert.deepEqual(gridBeside(anchor, 3, anchor, { gap: 10, columns: 1 }).map((p) => p.x), [310, 310, 310]);
  });

  test('gap scales with the cell within 16–80', () => {
    assert.equal(defaultGap({ width: 100, height: 50 }), 16);
    assert.equal(defaultGap({ width: 1000, height: 50 }), 50);
    assert.equal(defaultGap({ width: 10000, height: 50 }), 80);
  });
});

describe('reconnect state machine', () => {
  test('backoff doubles from 0.5 s to a 15 s cap with ±20% jitter', () => {
    assert.deepEqual([0, 1, 2, 3, 4, 5, 6, 10].map((a) => backoffDelay(a, 0.5)), [500, 1000, 2000, 4000, 8000, 15000, 15000, 15000]);
    assert.equal(backoffDelay(0, 0), 400);
    assert.equal(backoffDelay(0, 0.999999), 600);
    assert.equal(backoffDelay(1000, 0.5), DEFAULT_BACKOFF.capMs);
  });

  test('unreachable retries with growing delays; a good connection resets; a drop retries quickly', () => {
    const unreachable = { code: 'unreachable' as const, message: 'x' };
    let s: ConnectionState = transition({ phase: 'idle' }, { type: 'start' }, 0.5);
    assert.deepEqual(s, { phase: 'connecting', attempt: 0 });
    const delays: number[] = [];
    for (let i = 0; i < 4; i++) {
      s = transition(s, { type: 'failed', problem: unreachable }, 0.5);
      assert.equal(s.phase, 'waiting');
      if (s.phase === 'waiting') delays.push(s.delayMs);
      s = transition(s, { type: 'retry-due' }, 0.5);
      assert.equal(s.phase, 'connecting');
    }
    assert.deepEqual(delays, [500, 1000, 2000, 4000]);
    s = transition(s, { type: 'opened' }, 0.5);
    assert.deepEqual(s, { phase: 'connected' });
    s = transition(s, { type: 'failed', problem: { code: 'dropped', message: 'closed' } }, 0.5);
    assert.deepEqual(s, { phase: 'waiting', attempt: 0, delayMs: 500, problem: { code: 'dropped', message: 'closed' } });
  });

  test('a wrong token or a version mismatch stops until the user acts', () => {
    for (const code of ['refused', 'version-mismatch'] as const) {
      let s: ConnectionState = transition({ phase: 'connecting', attempt: 3 }, { type: 'failed', problem: { code, message: 'm' } }, 0.5);
      assert.equal(s.phase, 'stopped');
      assert.equal(transition(s, { type: 'retry-due' }, 0.5), s, 'no timer restarts it');
      s = transition(s, { type: 'start' }, 0.5);
      assert.deepEqual(s, { phase: 'connecting', attempt: 0 });
    }
    assert.deepEqual(transition({ phase: 'connected' }, { type: 'stop' }, 0.5), { phase: 'idle' });
    const waiting: ConnectionState = { phase: 'waiting', attempt: 1, delayMs: 5, problem: { code: 'unreachable', message: '' } };
    assert.equal(transition(waiting, { type: 'opened' }, 0.5), waiting, 'a stale open is ignored');
  });

  test('help texts say how to start the daemon, where the token is, and pass the version message through', () => {
    const down = problemHelp({ code: 'unreachable', message: '' }, 41872);
    assert.equal(down.command, 'npx ipa-bridge start');
    assert.match(down.detail, /npm start/);
    assert.equal(problemHelp({ code: 'unreachable', message: '' }, 5000).command, 'npx ipa-bridge start --port 5000');
    assert.equal(problemHelp({ code: 'refused', message: '' }, 41872).command, 'npx ipa-bridge token');
    assert.equal(problemHelp({ code: 'version-mismatch', message: 'update the bridge' }, 41872).detail, 'update the bridge');
  });
});

/** A socket the test drives: it records what the client sends and plays the daemon's part. */
class FakeSocket implements SocketLike {
  binaryType = 'blob';
  readyState = 0;
  onopen: unknown = null;
  onmessage: unknown = null;
  onclose: unknown = null;
  onerror: unknown = null;
  readonly sent: string[] = [];
  constructor(readonly url: string) {}
  send(d: string | ArrayBuffer | ArrayBufferView): void {
    if (typeof d === 'string') this.sent.push(d);
  }
  close(code = 1000, reason = ''): void {
    if (this.readyState >= 2) return;
    this.readyState = 3;
    queueMicrotask(() => this.fire('onclose', { code, reason }));
  }
  open(): void {
    this.readyState = 1;
    this.fire('onopen', {});
  }
  receive(m: object): void {
    this.fire('onmessage', { data: JSON.stringify(m) });
  }
  fail(code: number, reason = ''): void {
    this.readyState = 3;
    this.fire('onerror', {});
    this.fire('onclose', { code, reason });
  }
  private fire(k: 'onopen' | 'onmessage' | 'onclose' | 'onerror', ev: object): void {
    const h = this[k];
    if (typeof h === 'function') (h as (e: object) => void)(ev);
  }
}

const WELCOME: WelcomeMessage = {
  type: 'welcome', protocol: PROTOCOL_VERSION, server: { name: 'ipa-bridge', version: '9.9.9' },
  capabilities: { models: [], maxPixels: 1 << 20, maxInputPixels: 1 << 24, maxPayload: 1 << 26, maxBatch: 8, samplers: ['euler'], adapters: ['base'], controls: ['pose'], features: ['preview'], provider: 'cpu' },
};

function harness(listening: boolean) {
  const sockets: FakeSocket[] = [];
  const timers: Array<{ fn: () => void; ms: number; live: boolean }> = [];
  const probes: string[] = [];
  const deps: ConnectionDeps = {
    openSocket: (url) => {
      const s = new FakeSocket(url);
      sockets.push(s);
      return s;
    },
    probe: async (url) => {
      probes.push(url);
      return listening;
    },
    setTimer: (fn, ms) => {
      const t = { fn, ms, live: true };
      timers.push(t);
      return t;
    },
    clearTimer: (h) => void ((h as { live: boolean }).live = false),
    random: () => 0.5,
    now: () => 1000,
    client: { name: 'test', version: '0' },
  };
  const conn = new BridgeConnection(deps);
  const phases: string[] = [];
  conn.subscribe((s) => phases.push(s.phase));
  /** Fires the live retry timer (not the open timeout). */
  const fireRetry = (): number => {
    const t = timers.filter((x) => x.live && x.ms !== 10_000).at(-1);
    assert.ok(t, 'a retry timer is pending');
    t.live = false;
    t.fn();
    return t.ms;
  };
  return { conn, sockets, timers, probes, phases, fireRetry };
}

const tick = (): Promise<void> => new Promise((r) => setTimeout(r, 0));

/** A harness configured with `token` whose first socket failed the way a browser reports any failed upgrade (1006), settled. */
async function firstSocketFailed(listening: boolean, token: string): Promise<ReturnType<typeof harness>> {
  const h = harness(listening);
  h.conn.configure({ token });
  h.sockets[0].fail(1006);
  await tick();
  return h;
}

describe('connection driver', () => {
  test('connects with the token in the URL, completes the handshake and exposes the client', async () => {
    const h = harness(true);
    h.conn.configure({ token: ' s3cret/+ ', port: 5555 });
    const s = h.sockets[0];
    assert.equal(s.url, 'ws://localhost:5555/?token=s3cret%2F%2B');
    s.open();
    assert.equal(JSON.parse(s.sent[0]).type, 'hello');
    assert.equal(JSON.parse(s.sent[0]).protocol, PROTOCOL_VERSION);
    s.receive(WELCOME);
    await tick();
    assert.equal(h.conn.state.phase, 'connected');
    assert.equal(h.conn.welcome?.server.version, '9.9.9');
    assert.ok(h.conn.client);
    assert.deepEqual(h.phases, ['connecting', 'connected']);
    assert.equal(socketUrl({ token: 't' }), 'ws://localhost:41872/?token=t');
    assert.equal(probeUrl({ token: 't' }), 'http://localhost:41872/');
  });

  test('nothing listening → unreachable, retried with backoff until the daemon appears', async () => {
    const h = await firstSocketFailed(false, 't');
    assert.equal(h.conn.state.phase, 'waiting');
    assert.equal(h.conn.state.phase === 'waiting' && h.conn.state.problem.code, 'unreachable');
    assert.deepEqual(h.probes, ['http://localhost:41872/']);
    assert.equal(h.conn.retryAt, 1500);
    assert.equal(h.fireRetry(), 500);
    h.sockets[1].fail(1006);
    await tick();
    assert.equal(h.fireRetry(), 1000);
    h.sockets[2].open();
    h.sockets[2].receive(WELCOME);
    await tick();
    assert.equal(h.conn.state.phase, 'connected');
  });

  test('something listening but the socket never opens → refused (wrong token), no automatic retry', async () => {
    const h = await firstSocketFailed(true, 'wrong');
    assert.equal(h.conn.state.phase, 'stopped');
    assert.equal(h.conn.state.phase === 'stopped' && h.conn.state.problem.code, 'refused');
    assert.equal(h.timers.filter((t) => t.live).length, 0);
    h.conn.configure({ token: 'right' }); // the user pastes the token
    assert.equal(h.sockets.length, 2);
    assert.match(h.sockets[1].url, /token=right/);
  });

  test('version mismatch: the daemon\'s own message is kept and nothing retries', async () => {
    const h = harness(true);
    h.conn.configure({ token: 't' });
    const s = h.sockets[0];
    s.open();
    s.receive({ type: 'error', code: 'version-mismatch', message: 'This plugin speaks protocol 1, but the daemon speaks protocol 2: update the plugin.', serverProtocol: 2 });
    s.fail(CLOSE_VERSION_MISMATCH, 'protocol version mismatch');
    await tick();
    assert.equal(h.conn.state.phase, 'stopped');
    assert.deepEqual(h.conn.state.phase === 'stopped' && h.conn.state.problem, { code: 'version-mismatch', message: 'This plugin speaks protocol 1, but the daemon speaks protocol 2: update the plugin.' });
  });

  test('a dropped connection reconnects, and whenConnected hands out the new client', async () => {
    const h = harness(true);
    h.conn.configure({ token: 't' });
    h.sockets[0].open();
    h.sockets[0].receive(WELCOME);
    await tick();
    const first = h.conn.client;
    const next = h.conn.whenConnected();
    assert.equal(await next, first, 'already connected: resolves at once');
    h.sockets[0].fail(1006);
    await tick();
    assert.equal(h.conn.state.phase, 'waiting');
    assert.equal(h.conn.client, null);
    const again = h.conn.whenConnected();
    assert.equal(h.fireRetry(), 500);
    h.sockets[1].open();
    h.sockets[1].receive(WELCOME);
    const c = await again;
    assert.notEqual(c, first);
    assert.equal(c, h.conn.client);
  });

  test('close() stops everything and ignores the old socket\'s late events', async () => {
    const h = harness(false);
    h.conn.configure({ token: 't' });
    h.conn.close();
    assert.equal(h.conn.state.phase, 'idle');
    await tick();
    h.sockets[0].fail(1006);
    await tick();
    assert.equal(h.conn.state.phase, 'idle');
    h.conn.configure({ token: '' });
    assert.equal(h.sockets.length, 1, 'no token, no socket');
  });
});

describe('settings and jobs', () => {
  test('parseSettings keeps valid fields and defaults the rest', () => {
    assert.deepEqual(parseSettings(undefined), DEFAULT_SETTINGS);
    const s = parseSettings({ prompt: 'cat', steps: 999, sampler: 'nope', seed: 42.4, variations: 4, guidance: '7', useInit: false, controlType: 'canny' });
    assert.equal(s.prompt, 'cat');
    assert.equal(s.steps, DEFAULT_SETTINGS.steps);
    assert.equal(s.sampler, DEFAULT_SETTINGS.sampler);
    assert.equal(s.seed, 42);
    assert.equal(s.variations, 4);
    assert.equal(s.guidance, DEFAULT_SETTINGS.guidance);
    assert.equal(s.useInit, false);
    assert.equal(s.controlType, 'canny');
    assert.equal(parseSettings({ seed: null }).seed, null);
    assert.equal(parseSettings({ seed: -1 }).seed, 0);
  });

  test('parseConnection trims tokens and refuses junk', () => {
    assert.deepEqual(parseConnection({ token: '  abc  ', port: 5000 }), { token: 'abc', port: 5000 });
    assert.deepEqual(parseConnection({ token: 'a b', port: 99999 }), { token: '', port: 41872 });
    assert.deepEqual(parseConnection(null), { token: '', port: 41872 });
  });

  test('img2img job: init frame, strength, references and controls; valid for the daemon', () => {
    const settings = parseSettings({ prompt: 'sneaker', variations: 3, referenceScale: 0.6, controlType: 'pose', controlPreprocess: 'pose-detect', controlScale: 0.8 });
    const job = buildJob(settings, { jobId: 'figma-1', seed: 77, hasInit: true, area: { width: 1440, height: 900 }, references: 2, controls: 1, preview: true }, CAPS);
    assert.equal(job.init?.source, 'frame');
    assert.equal(job.strength, settings.strength);
    assert.equal(job.width, undefined);
    assert.equal(job.batchSize, 3);
    assert.equal(job.seed, 77);
    assert.deepEqual(job.references, [
      { source: 'frame', adapter: 'base', scale: 0.6, preset: 'reference' },
      { source: 'frame', adapter: 'base', scale: 0.6, preset: 'reference' },
    ]);
    assert.deepEqual(job.controls, [{ source: 'frame', type: 'pose', preprocess: 'pose-detect', scale: 0.8 }]);
    assert.deepEqual(job.output, { format: 'png', preview: true });
    const v = validateJob(job, CAPS);
    assert.ok(v.ok, JSON.stringify(!v.ok && v.error));
  });

  test('text-only job: a generation size with the target\'s aspect; batch capped by the daemon', () => {
    const job = buildJob(parseSettings({ prompt: 'x', variations: 8 }), { jobId: 'j', seed: 1, hasInit: false, area: { width: 1440, height: 900 }, references: 0, controls: 0, preview: false }, { maxPixels: 1 << 20, maxBatch: 4 });
    assert.equal(job.init, undefined);
    assert.equal(job.batchSize, 4);
    assert.ok(job.width! > job.height!);
    assert.equal(job.references, undefined);
    const v = validateJob(job, { maxPixels: 1 << 20, maxBatch: 4 });
    assert.ok(v.ok, JSON.stringify(!v.ok && v.error));
  });

  test('job ids match the protocol pattern', () => {
    const id = newJobId('figma', Date.now(), Math.random);
    assert.match(id, /^[A-Za-z0-9._:-]{1,64}$/);
    assert.match(newJobId('bad prefix!', 0, () => 0), /^badprefix-0-000000$/);
  });

  test('records: per-image seeds, round trip through JSON, regenerate keeps the seed, variation keeps it and mixes in a new variation seed', () => {
    const settings = parseSettings({ prompt: 'a long prompt about a red sneaker on a podium', variations: 4 });
    const meta = { params: { seed: 100 }, references: [{ hash: 'a'.repeat(64) }], controls: [], models: { checkpoint: { name: 'm', sha256: 'b' } }, engine: 'test' } as unknown as ResultMetadata;
    const rec = createRecord({ settings, meta, jobId: 'figma-1', index: 2, createdAt: '2026-01-01T00:00:00Z' });
    assert.equal(rec.seed, 102);
    assert.equal(rec.settings.seed, 102);
    assert.deepEqual(rec.references.map((r) => r.hash), ['a'.repeat(64)]);
    const back = parseRecord(JSON.parse(JSON.stringify(rec)));
    assert.deepEqual(back, rec);
    assert.equal(parseRecord({ v: 2 }), null);
    assert.equal(parseRecord('x'), null);
    const re = repeatFromRecord(rec, 'regenerate', () => 0.5);
    assert.equal(re.seed, 102);
    assert.equal(re.settings.variations, 1);
    const va = repeatFromRecord(rec, 'variation', () => 0.25);
    assert.equal(va.seed, 102);
    assert.equal(va.variation?.seed, 0x40000000);
    assert.equal(resultName(102, 'a long prompt about a red sneaker on a podium, studio light, 85 mm'), '[IPA] 102 a long prompt about a red sneaker on a podium, studio…');
    assert.equal(resultName(5, '  '), '[IPA] 5');
  });
});

describe('generated paints', () => {
  const solid: Paint = { type: 'SOLID', color: { r: 1, g: 0, b: 0 } };
  const hiddenGrad: Paint = { type: 'SOLID', color: { r: 0, g: 0, b: 1 }, visible: false };

  test('adding hides the old paints and remembers their visibility; removing restores them', () => {
    const { fills, state } = withGeneratedImage([solid, hiddenGrad], null, 'h1');
    assert.deepEqual(fills.map((p) => p.visible), [false, false, undefined]);
    assert.deepEqual(state, { hash: 'h1', visibility: [true, false] });
    assert.deepEqual(withoutGeneratedImage(fills, state), [{ ...solid, visible: true }, hiddenGrad]);
    const again = withGeneratedImage(fills, state, 'h2');
    assert.equal(again.fills.length, 3, 'the old generated paint is replaced, not stacked');
    assert.deepEqual(again.state, { hash: 'h2', visibility: [true, false] });
    assert.deepEqual(parsePaintState(JSON.stringify(again.state)), again.state);
    assert.equal(parsePaintState('{bad'), null);
    assert.equal(parsePaintState(''), null);
  });
});
