/**
 * The shape of a Figma plugin manifest.json, as Figma's manifest documentation describes it. The
 * @figma/plugin-typings package ships no manifest type or schema, so this is written here, tied to the
 * typings wherever they state a value (`api`, `editorType`). Readonly so a `const` literal satisfies it.
 */
/// <reference path="../../node_modules/@figma/plugin-typings/plugin-api.d.ts" />

export type FigmaEditorType = PluginAPI['editorType'];

export interface FigmaNetworkAccess {
  /** Domains the plugin may reach in production; ["none"] blocks all. */
  readonly allowedDomains: readonly string[];
  /** Required when allowedDomains is not ["none"]/["*"]; shown to reviewers. */
  readonly reasoning?: string;
  /** Extra domains allowed only while developing (localhost servers). */
  readonly devAllowedDomains?: readonly string[];
}

export interface FigmaMenuItem {
  readonly name: string;
  readonly command?: string;
  readonly menu?: readonly FigmaMenuEntry[];
}
export type FigmaMenuEntry = FigmaMenuItem | { readonly separator: true };

export interface FigmaParameter {
  readonly name: string;
  readonly key: string;
  readonly description?: string;
  readonly allowFreeform?: boolean;
  readonly optional?: boolean;
}

export interface FigmaManifest {
  readonly name: string;
  /** Assigned by Figma when the plugin is created or published. */
  readonly id: string;
  readonly api: PluginAPI['apiVersion'];
  readonly main: string;
  readonly ui?: string | { readonly [name: string]: string };
  readonly editorType: readonly FigmaEditorType[];
  readonly documentAccess?: 'dynamic-page';
  readonly networkAccess?: FigmaNetworkAccess;
  readonly menu?: readonly FigmaMenuEntry[];
  readonly parameters?: readonly FigmaParameter[];
  readonly parameterOnly?: boolean;
  readonly relaunchButtons?: ReadonlyArray<{ readonly command: string; readonly name: string; readonly multipleSelection?: boolean }>;
  readonly enableProposedApi?: boolean;
  readonly enablePrivatePluginApi?: boolean;
  readonly build?: string;
  readonly permissions?: ReadonlyArray<'currentuser' | 'activeusers' | 'fileusers' | 'payments' | 'teamlibrary'>;
  readonly capabilities?: ReadonlyArray<'textreview' | 'codegen' | 'inspect' | 'vscode'>;
}
