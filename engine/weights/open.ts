/** Any weight file a user has: .safetensors, or a PyTorch .bin/.pt zip checkpoint (read without unpickling code). */
import { SafetensorsFile } from './safetensors.ts';
import { safetensorsSource, type WeightSource } from './source.ts';
import { isTorchZip, torchZipSource } from './torch-zip.ts';

export function openWeightFile(path: string, prefix = ''): WeightSource {
  if (isTorchZip(path)) return torchZipSource(path, prefix);
  return safetensorsSource(SafetensorsFile.open(path), prefix);
}
