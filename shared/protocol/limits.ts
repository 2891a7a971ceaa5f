/** Field limits every side enforces. The daemon states the configurable ones in `welcome.capabilities`. */

export const MAX_JOB_ID_LENGTH = 64;
export const JOB_ID_PATTERN = /^[A-Za-z0-9._:-]{1,64}$/;
export const HASH_PATTERN = /^[0-9a-f]{64}$/;

export const MAX_PROMPT_LENGTH = 8000;
export const MAX_NAME_LENGTH = 256;
export const MAX_CLIENT_STRING = 128;

export const STEPS = { min: 1, max: 150, default: 20 } as const;
export const GUIDANCE = { min: 0, max: 30, default: 7 } as const;
export const SEED_MAX = 0xffffffff;
export const STRENGTH = { min: 0, max: 1, default: 0.75 } as const;
export const CLIP_SKIP = { min: 1, max: 12, default: 1 } as const;
export const SIZE = { min: 64, max: 4096, multiple: 8, default: 512 } as const;
export const REFERENCE_SCALE = { min: 0, max: 3, default: 0.7 } as const;
export const CONTROL_SCALE = { min: 0, max: 2, default: 1 } as const;
export const LORA_STRENGTH = { min: -3, max: 3 } as const;
export const MAX_REFERENCES = 8;
export const MAX_CONTROLS = 4;
export const MAX_LORAS = 8;
export const FEATHER = { min: 0, max: 256, default: 0 } as const;
export const PADDING = { min: 0, max: 2048, default: 32 } as const;
export const MAX_POSE_PEOPLE = 16;
/** OpenPose COCO-18 and BODY_25 keypoint arrays (x, y, confidence per point). */
export const POSE_KEYPOINT_LENGTHS: readonly number[] = [18 * 3, 25 * 3];

/**
 * Style references only feed CLIP (224²) and face detection: the daemon shrinks a larger one to this
 * side, and the plugins need not send more (one constant for all three).
 */
export const REFERENCE_MAX_SIDE = 1024;

/** Side limit of any binary frame (and of decoded input images). */
export const MAX_FRAME_SIDE = 16384;

/** Defaults of the daemon's configurable limits. */
export const DEFAULT_MAX_PIXELS = 1024 * 1024;
export const DEFAULT_MAX_INPUT_PIXELS = 4096 * 4096;
export const DEFAULT_MAX_BATCH = 8;
/** A 4096×4096 RGBA frame plus its header and some slack. */
export const DEFAULT_MAX_PAYLOAD = 4096 * 4096 * 4 + 4096;
