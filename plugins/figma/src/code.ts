/** Figma sandbox entry (bundled by esbuild into dist/figma/code.js). */
import { startSandbox } from './sandbox.ts';

startSandbox(figma, __html__);
