/**
 * One AdapterKind, decided in one place (engine/weights/ip-adapter.ts), for every file-name spelling
 * users have: h94's own names (IP-Adapter and IP-Adapter-FaceID repos), the names ComfyUI_IPAdapter_plus
 * tells users to save them under, renamed copies A1111 users keep, and Hugging Face cache paths. The
 * registry's detection (safetensors and pickles) and the engine read the same rule, so a file the
 * registry files as FaceID-PlusV2 also runs with the PlusV2 shortcut.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { detectFile, detectTensors } from '../../engine/weights/detect.ts';
import { adapterKindFromName, describeIpAdapter, isPlusV2Name, type IpAdapterFileKind } from '../../engine/weights/ip-adapter.ts';
import { ipAdapter, writeFile, type Shapes } from '../models/make-models.ts';

const dir = mkdtempSync(join(tmpdir(), 'ipa-bridge-adapter-kind-'));
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

const shapes = (s: Shapes) => new Map(Object.entries(s).map(([k, shape]) => [k, { shape }]));
const lookup = (s: Shapes) => ({ keys: () => Object.keys(s), shape: (k: string) => s[k] });

/** FaceID-Plus files (v1 and v2 share their tensors): the name is the only evidence, in each spelling. */
const PLUS_V2_NAMES = [
  'ip-adapter-faceid-plusv2_sd15.bin', // h94/IP-Adapter-FaceID, ComfyUI models/ipadapter, A1111 models/ControlNet
  'ip-adapter-faceid-plusv2_sd15.safetensors', // converted copies
  'ip-adapter-faceid-plusv2_sdxl.bin',
  'ip-adapter-faceid-plus_v2_sd15.safetensors', // renamed copies
  'ip-adapter-faceid-plus-v2_sd15.safetensors',
  'ip-adapter-faceid-plus v2 sd15.safetensors',
  'ip-adapter-faceid-plus.v2.sd15.safetensors',
  'IP-Adapter-FaceID-PlusV2_SD15.safetensors',
  'ip_adapter_faceid_plusv2_sd15.safetensors',
  'h94/IP-Adapter-FaceID/ip-adapter-faceid-plusv2_sd15.bin', // hub cache (repo + path)
];
const PLUS_V1_NAMES = ['ip-adapter-faceid-plus_sd15.bin', 'ip-adapter-faceid-plus_sd15.safetensors', 'IP-Adapter-FaceID-Plus_SD15.safetensors', 'ip_adapter_faceid_plus_sd15.safetensors'];

test('FaceID-Plus v1 / v2 from every file-name spelling, the same in the registry and the engine', () => {
  const s = ipAdapter('faceid-plus');
  for (const [names, kind] of [[PLUS_V2_NAMES, 'faceid-plusv2'], [PLUS_V1_NAMES, 'faceid-plus']] as const) {
    for (const name of names) {
      assert.equal(isPlusV2Name(name), kind === 'faceid-plusv2', name);
      assert.equal(describeIpAdapter(lookup(s), name).kind, kind, `engine: ${name}`);
      assert.equal(detectTensors(name, shapes(s)).variant, kind, `registry: ${name}`);
    }
  }
});

test('every h94 / ComfyUI IP-Adapter file name gives its kind from the name alone (pickles)', () => {
  const byKind: Record<IpAdapterFileKind, readonly string[]> = {
    'base': ['ip-adapter_sd15.bin', 'ip-adapter_sd15_light.bin', 'ip-adapter_sd15_light_v11.bin', 'ip-adapter_sd15_vit-G.bin', 'ip-adapter_sdxl.bin', 'ip-adapter_sdxl_vit-h.bin'],
    'plus': ['ip-adapter-plus_sd15.bin', 'ip-adapter-plus-face_sd15.bin', 'ip-adapter-plus_sdxl_vit-h.bin', 'ip-adapter-plus-face_sdxl_vit-h.bin'],
    'full-face': ['ip-adapter-full-face_sd15.bin'],
    'faceid': ['ip-adapter-faceid_sd15.bin', 'ip-adapter-faceid_sdxl.bin'],
    'faceid-plus': ['ip-adapter-faceid-plus_sd15.bin'],
    'faceid-plusv2': ['ip-adapter-faceid-plusv2_sd15.bin', 'ip-adapter-faceid-plus_v2_sd15.bin', 'ip-adapter-faceid-plusv2_sdxl.bin'],
    'portrait': ['ip-adapter-faceid-portrait_sd15.bin', 'ip-adapter-faceid-portrait-v11_sd15.bin', 'ip-adapter-faceid-portrait_sdxl.bin', 'ip-adapter-faceid-portrait_sdxl_unnorm.bin'],
  };
  const cases = Object.entries(byKind).flatMap(([kind, names]) => names.map((name) => [name, kind as IpAdapterFileKind] as const));
  for (const [name, kind] of cases) {
    assert.equal(adapterKindFromName(name), kind, name);
    // A torch zip archive is never unpickled: the registry classifies it by the same rule.
    const d = detectFile(writeFile(join(dir, name), Buffer.from([0x50, 0x4b, 0x03, 0x04, 0, 0, 0, 0])));
    assert.equal(d.variant, kind, `pickle: ${name}`);
  }
});

test('kinds from the tensors: one vocabulary (portrait, not faceid-portrait)', () => {
  const cases: Array<[Parameters<typeof ipAdapter>[0], string, IpAdapterFileKind]> = [
    ['base', 'ip-adapter_sd15.safetensors', 'base'],
    ['plus', 'ip-adapter-plus_sd15.safetensors', 'plus'],
    ['faceid', 'ip-adapter-faceid_sd15.safetensors', 'faceid'],
    ['portrait', 'ip-adapter-faceid-portrait_sd15.safetensors', 'portrait'],
    ['portrait', 'renamed.safetensors', 'portrait'], // 16 tokens, no LoRA
    ['full-face', 'ip-adapter-full-face_sd15.safetensors', 'full-face'],
  ];
  for (const [layout, name, kind] of cases) {
    assert.equal(describeIpAdapter(lookup(ipAdapter(layout)), name).kind, kind, name);
    assert.equal(detectTensors(name, shapes(ipAdapter(layout))).variant, kind, name);
  }
});
