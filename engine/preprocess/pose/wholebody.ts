/**
 * COCO-WholeBody (133 points, mmpose order) → OpenPose: body 0–16, feet 17–22, face 23–90 (68),
 * left hand 91–111, right hand 112–132. Body becomes COCO-18 with a neck at the shoulders' midpoint
 * (present only if both shoulders score > 0.3), reordered by the standard mmpose → openpose table;
 * feet are dropped. Points below the threshold become absent (score 0), as DWPose's annotator does.
 */
import type { Keypoint, PersonPose } from './types.ts';

export const WHOLEBODY_POINTS = 133;
export const DWPOSE_KEYPOINT_THRESHOLD = 0.3;
const NECK = -1;

/** mmpose (COCO-WholeBody) index of each OpenPose COCO-18 joint; NECK is synthesised. */
export const OPENPOSE_FROM_WHOLEBODY: readonly number[] = [0, NECK, 6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, 2, 1, 4, 3];

const FACE = [23, 91] as const;
const LEFT_HAND = [91, 112] as const;
const RIGHT_HAND = [112, 133] as const;

const ABSENT: Keypoint = { x: 0, y: 0, score: 0 };

/** One person's 133 keypoints (image pixels) and scores → an OpenPose person. */
export function wholebodyToOpenPose(x: ArrayLike<number>, y: ArrayLike<number>, score: ArrayLike<number>, thresholdValue = DWPOSE_KEYPOINT_THRESHOLD): PersonPose {
  // Scores are float32; numpy compares them with the threshold in float32 too (0.3f > 0.3 is false).
  const threshold = Math.fround(thresholdValue);
  if (x.length !== WHOLEBODY_POINTS || y.length !== WHOLEBODY_POINTS || score.length !== WHOLEBODY_POINTS) {
    throw new Error(`expected ${WHOLEBODY_POINTS} whole-body keypoints, got ${x.length}`);
  }
  const body = OPENPOSE_FROM_WHOLEBODY.map((j): Keypoint => {
    if (j === NECK) {
      // DWPose: neck score is 1 when both shoulders pass, else 0.
      const ok = score[5] > threshold && score[6] > threshold;
      return ok ? { x: (x[5] + x[6]) / 2, y: (y[5] + y[6]) / 2, score: 1 } : ABSENT;
    }
    return score[j] > threshold ? { x: x[j], y: y[j], score: score[j] } : ABSENT;
  });
  // Hands and face: the annotator hides points with score < threshold (so = threshold stays).
  const part = ([a, b]: readonly [number, number]): Keypoint[] => {
    const out: Keypoint[] = [];
    for (let j = a; j < b; j++) out.push(score[j] >= threshold ? { x: x[j], y: y[j], score: score[j] } : ABSENT);
    return out;
  };
  return { body, leftHand: part(LEFT_HAND), rightHand: part(RIGHT_HAND), face: part(FACE) };
}
