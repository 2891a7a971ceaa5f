/** The identity embedding of the face in a reference image (FaceID adapters). */
import type { LocatedModel, RgbaImage, Role } from '../api.ts';
import { faceEmbedding } from '../preprocess/face/index.ts';

export interface FaceIdentity {
  readonly embedding: Float32Array;
  /** 224x224 aligned crop for FaceID-Plus (CLIP features of the face). */
  readonly alignedCrop?: RgbaImage;
}

export async function faceIdentity(image: RgbaImage, find: (role: Role) => LocatedModel, opts: { provider: 'cpu' | 'cuda'; field: string }): Promise<FaceIdentity> {
  const models = { detector: find('insightface:detector').path, recognizer: find('insightface:recognizer').path };
  const r = await faceEmbedding(image, models, { role: opts.field, provider: opts.provider });
  return { embedding: r.embedding, alignedCrop: r.alignedCrop224 };
}
