/**
 * The test document used by the host, controller and panel tests: 320×240 with a background gradient,
 * a group holding a sketch layer, a pose skeleton layer, a style layer, and a feathered selection.
 * Colours are given in 8-bit sRGB and stored in the document's own encoding (profile, bit depth, linear
 * for 32-bit), so every variant looks the same on screen. Browser-safe.
 */
import { convertColor, decodeCurve, findProfile, PROFILES } from '../../shared/plugin/color-convert.ts';
import type { FakeDocInit, FakeWorld, Rgba } from './fake-photoshop.ts';

export const SCENE = {
  width: 320,
  height: 240,
  selection: { x: 100, y: 60, width: 120, height: 90, feather: 4 },
  sketch: { x: 60, y: 40, width: 200, height: 160 },
  pose: { x: 140, y: 70, width: 40, height: 80 },
  style: { x: 10, y: 10, width: 60, height: 60 },
  sketchColor: [40, 160, 220] as const,
  styleColor: [230, 120, 20] as const,
};

export interface SceneOptions {
  bitDepth?: 8 | 16 | 32;
  profile?: string;
  mode?: string;
  title?: string;
  selection?: boolean;
}

const inside = (r: { x: number; y: number; width: number; height: number }, x: number, y: number): boolean => x >= r.x && y >= r.y && x < r.x + r.width && y < r.y + r.height;

export function addScene(world: FakeWorld, o: SceneOptions = {}): ReturnType<FakeWorld['addDocument']> {
  const depth = o.bitDepth ?? 8;
  const profile = o.profile ?? 'sRGB IEC61966-2.1';
  const prof = findProfile(profile) ?? PROFILES[0];
  /** 8-bit sRGB → the document's encoding. */
  const enc = (r: number, g: number, b: number, a = 1): Rgba => {
    const c = convertColor([r / 255, g / 255, b / 255], PROFILES[0], prof);
    const v = depth === 32 ? c.map((x) => decodeCurve(prof, x)) : c;
    return [v[0], v[1], v[2], a];
  };
  const clear: Rgba = [0, 0, 0, 0];
  const init: FakeDocInit = {
    title: o.title ?? 'scene.psd', width: SCENE.width, height: SCENE.height, bitDepth: depth, profile, mode: o.mode,
    active: 'Sketch',
    selection: o.selection === false ? null : SCENE.selection,
    layers: [
      { name: 'Style', visible: false, paint: (x, y) => (inside(SCENE.style, x, y) ? enc(...SCENE.styleColor) : clear) },
      {
        name: 'Pose', visible: false,
        paint: (x, y) => {
          const p = SCENE.pose;
          if (!inside(p, x, y)) return clear;
          // A stick figure: spine and arms, 2 px wide, OpenPose-ish colours.
          const cx = p.x + p.width / 2;
          if (Math.abs(x - cx) < 1.5) return enc(255, 0, 85);
          if (Math.abs(y - (p.y + 20)) < 1.5) return enc(0, 255, 0);
          return clear;
        },
      },
      {
        name: 'Art', children: [
          { name: 'Sketch', paint: (x, y) => (inside(SCENE.sketch, x, y) ? enc(...SCENE.sketchColor) : clear) },
        ],
      },
      { name: 'Background', background: true, paint: (x) => enc(Math.round((x / SCENE.width) * 255), 128, 64) },
    ],
  };
  return world.addDocument(init);
}
