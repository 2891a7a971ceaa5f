/**
 * Where `generate` writes: checked before the job (a folder, a missing parent folder or an unwritable
 * place would otherwise surface only after minutes of work), and the extension picks the format.
 * PNG carries the A1111 "parameters" text chunk; JPEG and WebP carry the same text as EXIF
 * UserComment, where A1111 and civitai read it.
 */
import { accessSync, constants, statSync, writeFileSync } from 'node:fs';
import { dirname, extname, join, resolve } from 'node:path';
import sharp from 'sharp';
import type { RgbaImage } from '../../engine/api.ts';
import { withPngText } from '../png-text.ts';
import type { ResultText } from '../result-text.ts';
import { UsageError } from './args.ts';

export type OutputFormat = 'png' | 'jpeg' | 'webp';

const FORMATS: Record<string, OutputFormat> = { '.png': 'png', '.jpg': 'jpeg', '.jpeg': 'jpeg', '.webp': 'webp' };

export interface OutputPlan {
  readonly path: string;
  readonly format: OutputFormat;
}

export function checkOutput(path: string): OutputPlan {
  const abs = resolve(path);
  let st;
  try {
    st = statSync(abs);
  } catch {
    st = undefined;
  }
  if (st?.isDirectory()) throw new UsageError(`--out ${path}: is a folder; name a file in it, e.g. --out ${join(path, 'image.png')}`);
  const ext = extname(path).toLowerCase();
  const format = FORMATS[ext];
  if (!format) throw new UsageError(`--out ${path}: the extension picks the format; use .png, .jpg, .jpeg or .webp${ext ? ` (not ${ext})` : ''}`);
  const dir = dirname(abs);
  let dirStat;
  try {
    dirStat = statSync(dir);
  } catch {
    throw new UsageError(`--out ${path}: the folder ${dir} does not exist`);
  }
  if (!dirStat.isDirectory()) throw new UsageError(`--out ${path}: ${dir} is not a folder`);
  try {
    accessSync(st ? abs : dir, constants.W_OK);
  } catch {
    throw new UsageError(`--out ${path}: ${st ? 'the file' : `the folder ${dir}`} is not writable`);
  }
  return { path, format };
}

/** out.png → [out.png]; with a batch: out-1.png, out-2.png, … */
export function outputNames(plan: OutputPlan, n: number): string[] {
  if (n <= 1) return [plan.path];
  const ext = extname(plan.path);
  const stem = plan.path.slice(0, -ext.length);
  return Array.from({ length: n }, (_, i) => `${stem}-${i + 1}${ext}`);
}

/** out.png → out.json (what --metadata writes; the help says FILE.json). */
export function metadataName(plan: OutputPlan): string {
  const ext = extname(plan.path);
  return `${plan.path.slice(0, -ext.length)}.json`;
}

/**
 * Encodes one image in the plan's format with its text, and writes it: PNG keeps both texts (as the
 * daemon's frames do); JPEG and WebP have room for the A1111 parameters only, in EXIF UserComment.
 */
export async function writeImage(file: string, format: OutputFormat, image: RgbaImage | Uint8Array, text: ResultText): Promise<void> {
  const { parameters } = text;
  const src = image instanceof Uint8Array ? sharp(image) : sharp(image.data, { raw: { width: image.width, height: image.height, channels: 4 } });
  let bytes: Uint8Array;
  if (format === 'png') {
    bytes = withPngText(await src.png({ compressionLevel: 3 }).toBuffer(), { ...text });
  } else {
    // JPEG has no alpha: flatten onto white like a browser would show it.
    const s = format === 'jpeg' ? src.flatten({ background: '#ffffff' }).jpeg({ quality: 92 }) : src.webp({ quality: 92 });
    bytes = await s.withExif({ IFD2: { UserComment: parameters } }).toBuffer();
  }
  writeFileSync(file, bytes);
}
