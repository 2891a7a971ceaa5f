// The Figma sandbox's globals. Only plugin-api.d.ts is referenced (not the package's index.d.ts), because
// index.d.ts also redeclares console/setTimeout/fetch, which clash with DOM and Node types in the root
// typecheck; plugin-api.d.ts alone coexists with both.
/// <reference path="../../../node_modules/@figma/plugin-typings/plugin-api.d.ts" />
declare const figma: PluginAPI;
declare const __html__: string;
