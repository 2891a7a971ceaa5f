/**
 * Adds text chunks (tEXt / iTXt) and the sRGB chunk to a PNG sharp wrote, after IHDR, so other
 * tools read the generation parameters and colour managers know the pixels are sRGB.
 */
import { crc32 } from 'node:zlib';

function chunk(type: string, data: Uint8Array): Buffer {
  const out = Buffer.alloc(12 + data.length);
  out.writeUInt32BE(data.length, 0);
  out.write(type, 4, 'latin1');
  out.set(data, 8);
  out.writeUInt32BE(crc32(out.subarray(4, 8 + data.length)) >>> 0, 8 + data.length);
  return out;
}

/** tEXt for Latin-1 text (what A1111 writes), iTXt (UTF-8) otherwise. */
function textChunk(key: string, value: string): Buffer {
  // eslint-disable-next-line no-control-regex
  if (/^[\x00-\xff]*$/.test(value)) return chunk('tEXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0]), Buffer.from(value, 'latin1')]));
  return chunk('iTXt', Buffer.concat([Buffer.from(key, 'latin1'), Buffer.from([0, 0, 0, 0, 0]), Buffer.from(value, 'utf8')]));
}

export function withPngText(png: Uint8Array, text: Readonly<Record<string, string>>): Buffer {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const ihdrEnd = 8 + 12 + buf.readUInt32BE(8); // signature + IHDR chunk
  if (buf.toString('latin1', 12, 16) !== 'IHDR') throw new Error('not a PNG: IHDR missing');
  const extra = [chunk('sRGB', Uint8Array.of(0)), ...Object.entries(text).map(([k, v]) => textChunk(k, v))];
  return Buffer.concat([buf.subarray(0, ihdrEnd), ...extra, buf.subarray(ihdrEnd)]);
}

/** Reads tEXt/iTXt chunks back (tests, and reading parameters from a dropped PNG). */
export function readPngText(png: Uint8Array): Record<string, string> {
  const buf = Buffer.from(png.buffer, png.byteOffset, png.byteLength);
  const out: Record<string, string> = {};
  for (let o = 8; o + 12 <= buf.length; ) {
    const len = buf.readUInt32BE(o);
    const type = buf.toString('latin1', o + 4, o + 8);
    const data = buf.subarray(o + 8, o + 8 + len);
    const nul = data.indexOf(0);
    if (type === 'tEXt' && nul > 0) out[data.toString('latin1', 0, nul)] = data.toString('latin1', nul + 1);
    if (type === 'iTXt' && nul > 0) {
      let p = nul + 3;
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      out[data.toString('latin1', 0, nul)] = data.toString('utf8', p);
    }
    o += 12 + len;
  }
  return out;
}
