/**
 * The built Figma plugin: manifest.json typechecked as a `const` literal against the manifest shape
 * (tied to @figma/plugin-typings) with the TypeScript compiler, plus the rules issue 6 sets (dynamic
 * page, figma only, network limited to the daemon's default port); code.js is a plain ES2017 script and
 * ui.html has its script inlined.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { Script } from 'node:vm';
import ts from 'typescript';
import { DEFAULT_PORT } from '../../shared/protocol/constants.ts';
import { ROOT } from '../helpers/daemon.ts';
import { buildFigma } from './build.ts';

let dist: string;
let manifest: Record<string, unknown>;

before(async () => {
  dist = await buildFigma();
  manifest = JSON.parse(readFileSync(join(dist, 'manifest.json'), 'utf8')) as Record<string, unknown>;
});

/** Typechecks `const m = <json> as const satisfies FigmaManifest` and returns the diagnostics' text. */
function typecheckManifest(json: string): string[] {
  const dir = mkdtempSync(join(tmpdir(), 'ipa-manifest-'));
  const file = join(dir, 'check.ts');
  const shape = join(ROOT, 'test/figma/manifest-shape.ts');
  writeFileSync(file, `import type { FigmaManifest } from ${JSON.stringify(shape)};\nexport const m = ${json.trim()} as const satisfies FigmaManifest;\n`);
  const program = ts.createProgram([file], {
    strict: true, noEmit: true, target: ts.ScriptTarget.ES2022, module: ts.ModuleKind.ESNext,
    moduleResolution: ts.ModuleResolutionKind.Bundler, allowImportingTsExtensions: true, types: [], lib: ['lib.es2022.d.ts'],
  });
  return ts.getPreEmitDiagnostics(program).map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'));
}

describe('figma manifest and build', () => {
  test('manifest.json satisfies the manifest shape (typechecked against @figma/plugin-typings)', () => {
    const errors = typecheckManifest(readFileSync(join(dist, 'manifest.json'), 'utf8'));
    assert.deepEqual(errors, []);
  });

  test('the type check catches mistakes (so the check above means something)', () => {
    const bad = { ...manifest, documentAccess: 'static', editorType: ['figma', 'sketch'], api: '2.0.0' };
    const errors = typecheckManifest(JSON.stringify(bad)).join('\n');
    assert.match(errors, /dynamic-page/);
    assert.match(errors, /sketch/);
    assert.match(errors, /1\.0\.0/);
    // Excess properties are reported once the rest fits: a misspelt key does not pass silently.
    assert.match(typecheckManifest(JSON.stringify({ ...manifest, networkAcess: {} })).join('\n'), /networkAcess/);
  });

  test('document access, editor, API version and files', () => {
    assert.equal(manifest.documentAccess, 'dynamic-page');
    assert.deepEqual(manifest.editorType, ['figma']);
    assert.equal(manifest.api, '1.0.0');
    assert.equal(manifest.main, 'code.js');
    assert.equal(manifest.ui, 'ui.html');
    assert.equal(typeof manifest.id, 'string');
    assert.ok((manifest.id as string).length > 0, 'an id placeholder (docs/figma.md says how to replace it)');
    for (const f of ['code.js', 'ui.html']) assert.ok(existsSync(join(dist, f)), `${f} built`);
  });

  test('network access: nothing in production, only the daemon\'s default port while developing', () => {
    const na = manifest.networkAccess as { allowedDomains: string[]; devAllowedDomains: string[]; reasoning: string };
    assert.deepEqual(na.allowedDomains, ['none']);
    assert.deepEqual([...na.devAllowedDomains].sort(), [`http://localhost:${DEFAULT_PORT}`, `ws://localhost:${DEFAULT_PORT}`]);
    assert.ok(na.reasoning.length > 40 && /localhost/.test(na.reasoning));
  });

  test('code.js is one ES2017 script (no modules, no newer syntax left) that only needs figma and __html__', () => {
    const code = readFileSync(join(dist, 'code.js'), 'utf8');
    assert.doesNotThrow(() => new Script(code, { filename: 'code.js' }));
    assert.doesNotMatch(code, /^\s*(import|export)\s/m);
    assert.doesNotMatch(code, /\?\?|\?\.[a-zA-Z_(]/, 'optional chaining / nullish coalescing lowered for ES2017');
    assert.doesNotMatch(code, /\b(window|document|WebSocket|require)\b/);
  });

  test('ui.html has its script inlined, no placeholder left, and no base64 anywhere in the image path', () => {
    const html = readFileSync(join(dist, 'ui.html'), 'utf8');
    assert.doesNotMatch(html, /<!--UI_SCRIPT-->/);
    assert.match(html, /<script>[\s\S]{1000,}<\/script>/);
    assert.doesNotMatch(html, /<script src=/);
    assert.doesNotMatch(html, /\b(btoa|atob)\(|base64/);
  });
});
