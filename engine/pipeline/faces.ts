/** The identity embedding of the face in a reference image (FaceID adapters). */
import { EngineError, type LocatedModel, type RgbaImage } from '../api.ts';

export interface FaceIdentity {
  readonly embedding: Float32Array;
  /** 224x224 aligned crop for FaceID-Plus (CLIP features of the face). */
  readonly alignedCrop?: RgbaImage;
}

export async function faceIdentity(_image: RgbaImage, find: (role: string) => LocatedModel): Promise<FaceIdentity> {
  find('insightface:detector');
  find('insightface:recognizer');
  throw new EngineError('unsupported', 'FaceID face analysis is not wired into the engine yet');
}
