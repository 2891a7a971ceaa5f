/**
 * The built sandbox code (code.js, as esbuild bundles it for Figma) in a bare `vm` context holding only
 * what Figma's sandbox gives: `figma`, `__html__` and `console` — no DOM, no Node, no fetch, no timers.
 * A new dependency on anything else fails here, not in Figma.
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, test } from 'node:test';
import vm from 'node:vm';
import { buildFigma } from './build.ts';
import { FakeFigma } from './fake-figma.ts';

let code: string;

before(async () => {
  code = readFileSync(join(await buildFigma(), 'code.js'), 'utf8');
});

test('code.js runs with only figma, __html__ and console, and answers the UI', async () => {
  const figma = new FakeFigma();
  const frame = figma.add('FRAME', 'Hero', { x: 0, y: 0, width: 320, height: 200 }, { r: 1, g: 0, b: 0 });
  figma.select(frame);
  const posted: Array<{ type?: string }> = [];
  figma.onPost((m) => void posted.push(m as { type?: string }));
  const logged: unknown[] = [];
  const context = vm.createContext({
    figma: figma.asApi(), __html__: '<html>ui</html>',
    console: { log: (...a: unknown[]) => logged.push(a), warn: (...a: unknown[]) => logged.push(a), error: (...a: unknown[]) => logged.push(a) },
  });
  vm.runInContext(code, context, { filename: 'code.js' });
  for (const name of ['window', 'document', 'fetch', 'setTimeout', 'process', 'require', 'WebSocket']) {
    assert.equal(vm.runInContext(`typeof ${name}`, context), 'undefined', `${name} must not exist in the bare context`);
  }
  assert.equal(figma.shownUI?.html, '<html>ui</html>');
  assert.equal(figma.shownUI?.options?.themeColors, true);
  figma.deliver({ type: 'ready' });
  figma.deliver({ type: 'save-settings', settings: { prompt: 'bare' }, placement: 'fill' });
  figma.deliver({ type: 'set-role', role: 'reference' });
  const deadline = Date.now() + 5000;
  while (!posted.some((m) => m.type === 'roles')) {
    assert.ok(Date.now() < deadline, `no roles answer; posted ${posted.map((m) => m.type)}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  assert.ok(posted.some((m) => m.type === 'init'), 'ready is answered with init');
  assert.deepEqual(logged, [], 'nothing logged');
});
