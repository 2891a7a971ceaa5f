/**
 * Pose data shared by the keypoint-JSON parser, the skeleton renderer and DWPose.
 *
 * `OpenPoseJson` is the interchange format (what openpose editors import/export, what the plugin
 * shows): flat [x, y, confidence, ...] arrays, body in COCO-18 order. `PoseFrame` is the parsed form
 * the renderer draws: keypoints in pixels of a `width` x `height` canvas, confidence 0 = absent.
 */

/** One person in OpenPose keypoint JSON. Arrays are flat triples [x, y, c, x, y, c, ...]. */
export interface OpenPosePerson {
  /** 18 points in COCO-18 order (BODY_25 is accepted on input and mapped). */
  pose_keypoints_2d: number[];
  /** 21 points each, the person's own left / right hand. */
  hand_left_keypoints_2d?: number[];
  hand_right_keypoints_2d?: number[];
  /** 68 (DWPose) or 70 (OpenPose, with pupils) points. */
  face_keypoints_2d?: number[];
}

export interface OpenPoseJson {
  people: OpenPosePerson[];
  canvas_width: number;
  canvas_height: number;
}

export interface Keypoint {
  readonly x: number;
  readonly y: number;
  /** Confidence; 0 (or less) means the point is absent. */
  readonly score: number;
}

export interface PersonPose {
  /** Exactly 18 points, COCO-18 order: nose, neck, R shoulder/elbow/wrist, L shoulder/elbow/wrist,
   * R hip/knee/ankle, L hip/knee/ankle, R eye, L eye, R ear, L ear. */
  readonly body: readonly Keypoint[];
  readonly leftHand?: readonly Keypoint[];
  readonly rightHand?: readonly Keypoint[];
  readonly face?: readonly Keypoint[];
}

/** Poses in pixel coordinates of a width x height canvas. */
export interface PoseFrame {
  readonly width: number;
  readonly height: number;
  readonly people: readonly PersonPose[];
}

/** Axis-aligned box, corners in pixels (x2/y2 exclusive-ish, as the detector reports them). */
export interface Box {
  readonly x1: number;
  readonly y1: number;
  readonly x2: number;
  readonly y2: number;
}

export interface ScoredBox extends Box {
  readonly score: number;
}

export const BODY_POINTS = 18;
export const HAND_POINTS = 21;
