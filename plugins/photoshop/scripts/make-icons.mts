/**
 * Renders the panel and plugin icons (light/dark themes, @1x/@2x) from one SVG glyph with sharp:
 *   node --import tsx plugins/photoshop/scripts/make-icons.mts
 * Panel icons are 23×23 (46×46), plugin-list icons 24×24 (48×48), as UXP expects; the PNGs are committed.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';

const OUT = join(import.meta.dirname, '..', 'icons');

/** A picture frame with a landscape and a spark: "an image, generated". */
function glyph(stroke: string, spark: string): string {
  return `<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 24 24" width="24" height="24">
  <g fill="none" stroke="${stroke}" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round">
    <rect x="2.8" y="7.8" width="13.4" height="13.4" rx="2"/>
    <path d="M4.6 18.6l3.7-4.1 2.6 2.7 1.6-1.6 2.4 3"/>
    <circle cx="12.4" cy="11.6" r="1.2"/>
  </g>
  <path fill="${spark}" d="M18.6 1.8l1.05 3.05 3.05 1.05-3.05 1.05-1.05 3.05-1.05-3.05-3.05-1.05 3.05-1.05z"/>
</svg>`;
}

const THEMES = {
  dark: glyph('#cdcdcd', '#6ea8ff'),
  light: glyph('#4b4b4b', '#1473e6'),
};

async function render(svg: string, size: number, file: string): Promise<void> {
  await sharp(Buffer.from(svg), { density: Math.round((72 * size) / 24) * 4 })
    .resize(size, size)
    .png({ compressionLevel: 9 })
    .toFile(join(OUT, file));
}

mkdirSync(OUT, { recursive: true });
for (const [theme, svg] of Object.entries(THEMES)) {
  await render(svg, 23, `panel-${theme}@1x.png`);
  await render(svg, 46, `panel-${theme}@2x.png`);
  await render(svg, 24, `plugin-${theme}@1x.png`);
  await render(svg, 48, `plugin-${theme}@2x.png`);
}
console.log(`icons written to ${OUT}`);
