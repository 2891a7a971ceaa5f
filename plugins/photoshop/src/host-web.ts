/**
 * The web platform the panel needs: image URLs for thumbnails and previews, the WebSocket and the HTTP
 * probe. UXP and the headless-Chromium test both provide these globals.
 */
import type { SocketLike } from '../../../shared/protocol/client.ts';
import { SRGB_PROFILE } from '../../../shared/plugin/color-convert.ts';
import type { Rgba8 } from '../../../shared/plugin/raster.ts';
import type { PsHost } from './host-types.ts';

export function webPlatform(): Pick<PsHost, 'imageUrl' | 'releaseImageUrl' | 'openSocket' | 'probe'> {
  return {
    imageUrl(img) {
      try {
        return imageUrlOf(img);
      } catch {
        return ''; // no ImageBlob and no canvas pixels: the thumbnail stays blank, everything else works
      }
    },

    releaseImageUrl(url) {
      if (url.startsWith('blob:')) URL.revokeObjectURL(url);
    },

    openSocket(url) {
      return new WebSocket(url) as unknown as SocketLike;
    },

    async probe(url) {
      try {
        await fetch(url, { mode: 'no-cors', cache: 'no-store' });
        return true;
      } catch {
        return false; // nothing listens — or this host does not allow plain HTTP to it (UXP without an http:// domain)
      }
    },
  };
}

/**
 * A URL an <img> shows: UXP has no canvas pixel access but has ImageBlob (raw RGBA in a Blob); a
 * browser (the headless test) has canvas.
 */
function imageUrlOf(img: Rgba8): string {
  const ImageBlobCtor = (globalThis as { ImageBlob?: new (data: ArrayBuffer, options: object) => Blob }).ImageBlob;
  if (ImageBlobCtor) {
    const buf = img.data.buffer.slice(img.data.byteOffset, img.data.byteOffset + img.data.byteLength) as ArrayBuffer;
    const blob = new ImageBlobCtor(buf, {
      type: 'image/uncompressed', width: img.width, height: img.height, colorSpace: 'RGB', colorProfile: SRGB_PROFILE,
      pixelFormat: 'RGBA', components: 4, componentSize: 8, hasAlpha: true,
    });
    return URL.createObjectURL(blob);
  }
  const canvas = document.createElement('canvas');
  canvas.width = img.width;
  canvas.height = img.height;
  const ctx = canvas.getContext('2d');
  if (!ctx) return '';
  ctx.putImageData(new ImageData(new Uint8ClampedArray(img.data), img.width, img.height), 0, 0);
  return canvas.toDataURL('image/png');
}
