/**
 * Image files named on the command line, checked before any work: the file exists and is an image,
 * and it fits the input pixel limit. Every error names the option and the file
 * (`--style notimage.png: not an image (PNG, JPEG, WebP, TIFF, GIF)`), and a limit comes with the flag
 * that raises it.
 */
import { readFileSync } from 'node:fs';
import sharp, { type Metadata } from 'sharp';
import type { ImagePayload } from '../../shared/protocol/client.ts';
import { readImageFile } from '../image.ts';
import { UsageError } from './args.ts';

export const IMAGE_FORMATS = 'PNG, JPEG, WebP, TIFF, GIF';

export interface CheckedImage {
  /** The option as the user typed it, e.g. "--style". */
  readonly option: string;
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly bytes: Buffer;
  readonly format: string;
}

/** How a pixel limit can be raised, for the message (the daemon's or this process's). */
export type LimitHint = string;

/** Reads a file for an option; ENOENT and friends become `--opt FILE: no such file`. */
export function readInputFile(option: string, path: string): Buffer {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'is a folder, not a file' : code === 'EACCES' ? 'not readable (permission denied)' : (e as Error).message;
    throw new UsageError(`${option} ${path}: ${why}`);
  }
}

export async function checkImage(option: string, path: string, maxPixels: number, limitHint: LimitHint): Promise<CheckedImage> {
  const bytes = readInputFile(option, path);
  let meta: Metadata;
  try {
    // limitInputPixels: false — the size is checked below with a message that names the option.
    meta = await sharp(bytes, { limitInputPixels: false }).metadata();
  } catch {
    throw new UsageError(`${option} ${path}: not an image (${IMAGE_FORMATS})`);
  }
  const { width, height, format } = meta;
  if (!width || !height || !['png', 'jpeg', 'webp', 'tiff', 'gif'].includes(format ?? '')) {
    throw new UsageError(`${option} ${path}: not an image (${IMAGE_FORMATS}${format ? `; this is ${format}` : ''})`);
  }
  checkPixels({ option, path, width, height }, maxPixels, limitHint);
  return { option, path, width, height, bytes, format: format! };
}

export function checkPixels(img: { option: string; path: string; width: number; height: number }, maxPixels: number, limitHint: LimitHint): void {
  if (img.width * img.height > maxPixels) {
    throw new UsageError(`${img.option} ${img.path}: ${img.width}x${img.height} is ${img.width * img.height} pixels, over the input limit of ${maxPixels} (${limitHint}; or scale the image down)`);
  }
}

/** PNG and JPEG go as they are (the daemon decodes them); anything else is decoded here to raw RGBA. */
export async function toPayload(img: CheckedImage, maxPixels: number): Promise<ImagePayload> {
  if (img.format === 'png') return { format: 'png', width: 0, height: 0, data: img.bytes };
  if (img.format === 'jpeg') return { format: 'jpeg', width: 0, height: 0, data: img.bytes };
  const rgba = await readImageFile(img.path, maxPixels);
  return { format: 'raw-rgba8', width: rgba.width, height: rgba.height, data: rgba.data };
}
