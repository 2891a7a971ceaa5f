/**
 * The web platform the panel needs: image URLs for thumbnails and previews, the WebSocket and the HTTP
 * probe — only globals UXP provides (test/photoshop/uxp-globals.ts holds the panel test to that list).
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
        return ''; // ImageBlob refused the pixels: the thumbnail stays blank, everything else works
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
 * A URL an <img> shows. UXP's canvas has no pixel access; ImageBlob (raw RGBA in a Blob, UXP 7.0+) is
 * the way. Without it (an older UXP) thumbnails stay blank and everything else works.
 */
function imageUrlOf(img: Rgba8): string {
  const ImageBlobCtor = (globalThis as { ImageBlob?: new (data: ArrayBuffer, options: object) => Blob }).ImageBlob;
  if (!ImageBlobCtor) return '';
  const buf = img.data.buffer.slice(img.data.byteOffset, img.data.byteOffset + img.data.byteLength) as ArrayBuffer;
  const blob = new ImageBlobCtor(buf, {
    type: 'image/uncompressed', width: img.width, height: img.height, colorSpace: 'RGB', colorProfile: SRGB_PROFILE,
    pixelFormat: 'RGBA', components: 4, componentSize: 8, hasAlpha: true,
  });
  return URL.createObjectURL(blob);
}
