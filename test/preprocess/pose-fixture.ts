/** A fixed two-person OpenPose JSON (body, hands, face, absent points) shared by the golden generator and tests. */
import { fileURLToPath } from 'node:url';
import type { OpenPoseJson } from '../../engine/preprocess/pose/types.ts';

const tri = (pts: ReadonlyArray<readonly [number, number] | null>): number[] => pts.flatMap((p) => (p ? [p[0], p[1], 1] : [0, 0, 0]));

/** Standing person, left part of a 256 x 320 canvas; left ear absent. */
const bodyA = tri([
  [80, 60], [80, 95], [55, 97], [45, 140], [40, 180], [105, 95], [118, 138], [125, 175],
  [62, 180], [60, 240], [58, 300], [98, 180], [100, 240], [102, 300], [73, 53], [87, 53], [66, 58], null,
]);

/** Second person, right part, arms raised; lower legs absent. */
const bodyB = tri([
  [190, 70], [190, 105], [170, 106], [155, 75], [150, 40], [210, 104], [226, 74], [232, 38],
  [176, 190], [174, 250], null, [204, 190], [207, 252], null, [184, 64], [196, 64], [178, 68], [202, 68],
]);

/** A right hand around (40, 180): wrist then 4 points per finger fanning downwards. */
const hand = (wx: number, wy: number): number[] => {
  const pts: Array<[number, number]> = [[wx, wy]];
  for (let f = 0; f < 5; f++) {
    const ang = ((f - 2) * 22 + 90) * (Math.PI / 180);
    for (let j = 1; j <= 4; j++) pts.push([Math.round(wx + Math.cos(ang) * 9 * j), Math.round(wy + Math.sin(ang) * 9 * j)]);
  }
  return tri(pts);
};

/** 68 face points on an ellipse around person A's nose. */
const face = tri(Array.from({ length: 68 }, (_, i) => [Math.round(80 + 12 * Math.cos((i / 68) * 2 * Math.PI)), Math.round(60 + 15 * Math.sin((i / 68) * 2 * Math.PI))] as const));

export const FIXTURE_POSE: OpenPoseJson = {
  canvas_width: 256,
  canvas_height: 320,
  people: [
    { pose_keypoints_2d: bodyA, hand_right_keypoints_2d: hand(40, 180), hand_left_keypoints_2d: hand(125, 175), face_keypoints_2d: face },
    { pose_keypoints_2d: bodyB },
  ],
};

/** Render size of the golden image (the canvas scaled by 1.5 horizontally and vertically). */
export const GOLDEN_WIDTH = 384;
export const GOLDEN_HEIGHT = 480;
export const GOLDEN_PATH = fileURLToPath(new URL('../golden/pose-skeleton.png', import.meta.url));
