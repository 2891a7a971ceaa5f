import type { BuildOptions } from 'esbuild';

/** The panel's source folder (manifest.json, index.html, icons/, src/). */
export declare const PHOTOSHOP_PLUGIN_DIR: string;
/** esbuild options that bundle the panel script into `<outDir>/index.js`. */
export declare function photoshopBundleOptions(outDir: string): BuildOptions;
/** Copies the files UXP loads beside the script (esbuild only bundles scripts). */
export declare function copyPhotoshopStaticFiles(outDir: string): void;
