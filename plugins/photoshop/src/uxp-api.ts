/**
 * The part of the `photoshop` and `uxp` modules this plugin touches, as plain structural types: host.ts
 * is written against them, the test fakes implement them, and the compile-time checks at the bottom
 * prove Adobe's own declarations (@types/photoshop) satisfy them — so the fake cannot drift into an API
 * Photoshop does not have.
 */
import type * as Photoshop from 'photoshop';

export interface PsBounds {
  left: number;
  top: number;
  right: number;
  bottom: number;
}

export type PsPixelArray = Uint8Array | Uint16Array | Float32Array;

export interface PsImageData {
  width: number;
  height: number;
  components: number;
  componentSize: 8 | 16 | 32;
  colorSpace: string;
  colorProfile: string;
  hasAlpha: boolean;
  getData(options: { chunky?: boolean; fullRange?: boolean }): Promise<PsPixelArray>;
  dispose(): unknown;
}

export interface PsGetPixelsOptions {
  documentID?: number;
  layerID?: number;
  sourceBounds?: PsBounds;
  targetSize?: { width?: number; height?: number };
  colorSpace?: string;
  colorProfile?: string;
  componentSize?: -1 | 8 | 16 | 32;
  applyAlpha?: boolean;
}

export interface PsImaging {
  getPixels(options: PsGetPixelsOptions): Promise<{ imageData: PsImageData; sourceBounds: PsBounds; level: number }>;
  putPixels(options: { documentID?: number; layerID: number; imageData: PsImageData; replace?: boolean; targetBounds?: { left: number; top: number }; commandName?: string }): Promise<void>;
  getSelection(options: { documentID?: number; sourceBounds?: PsBounds; targetSize?: { width?: number; height?: number } }): Promise<{ imageData: PsImageData; sourceBounds: PsBounds }>;
  /** A layer's user (pixel) mask, Photoshop 24.4+: one grey channel over `sourceBounds`. Throws when the layer has none. */
  getLayerMask(options: { documentID?: number; layerID: number; kind?: 'user' | 'vector'; sourceBounds?: PsBounds; targetSize?: { width?: number; height?: number } }): Promise<{ imageData: PsImageData; sourceBounds: PsBounds }>;
  createImageDataFromBuffer(data: PsPixelArray, options: { width: number; height: number; components: number; chunky?: boolean; colorProfile?: string; colorSpace: string; fullRange?: boolean }): Promise<PsImageData>;
}

export interface PsLayer {
  readonly id: number;
  name: string;
  readonly kind: string;
  visible: boolean;
  readonly bounds: PsBounds;
  readonly boundsNoEffects: PsBounds;
  readonly isBackgroundLayer: boolean;
  readonly layers: ArrayLike<PsLayer> | null;
  move(relativeObject: PsLayer, insertLocation: string): unknown;
}

/** A document channel (Photoshop 23.0+): alpha channels are saved selections. */
export interface PsChannel {
  readonly name: string;
  /** "component", "maskedAreas", "selectedAreas" (alpha channels) or "spot". */
  readonly kind: string;
}

export interface PsDocument {
  readonly id: number;
  readonly title: string;
  readonly width: number;
  readonly height: number;
  readonly mode: string;
  readonly bitsPerChannel: string;
  readonly colorProfileName: string;
  readonly layers: ArrayLike<PsLayer>;
  readonly activeLayers: ArrayLike<PsLayer>;
  readonly channels: ArrayLike<PsChannel>;
  createPixelLayer(options?: { name?: string }): Promise<PsLayer | null>;
}

export interface PsApp {
  readonly activeDocument: PsDocument | null;
  readonly documents: ArrayLike<PsDocument>;
}

export interface PsExecutionContext {
  isCancelled: boolean;
  hostControl: {
    suspendHistory(params: { documentID: number; name: string }): Promise<unknown>;
    resumeHistory(suspension: never, commit?: boolean): Promise<void>;
  };
}

export interface PsCore {
  executeAsModal<T>(fn: (ctx: PsExecutionContext, descriptor?: object) => Promise<T>, options: { commandName: string }): Promise<T>;
}

export type PsDescriptor = Record<string, unknown>;

export interface PsAction {
  batchPlay(commands: PsDescriptor[], options?: object): Promise<PsDescriptor[]>;
  addNotificationListener(events: string[], notifier: (name: string, descriptor: PsDescriptor) => void): Promise<void>;
}

export interface PsModule {
  app: PsApp;
  core: PsCore;
  action: PsAction;
  imaging: PsImaging;
  constants: { ElementPlacement: { PLACEBEFORE: string } };
}

export interface UxpFile {
  name: string;
  read(options?: { format?: unknown }): Promise<string | ArrayBuffer>;
}

export interface UxpModule {
  storage: {
    secureStorage?: {
      getItem(key: string): Promise<Uint8Array | null | undefined>;
      setItem(key: string, value: string): Promise<void>;
      removeItem(key: string): Promise<void>;
    };
    localFileSystem?: { getFileForOpening(options: { types?: string[]; allowMultiple?: boolean }): Promise<unknown> };
    formats?: { binary: unknown };
  };
  entrypoints?: { setup(definition: object): unknown };
}

// ---------------------------------------------------------------- conformance with Adobe's declarations

type Conforms<Real extends Mine, Mine> = Real;
export type _ImagingConforms = Conforms<typeof Photoshop.imaging, PsImaging>;
export type _CoreConforms = Conforms<typeof Photoshop.core, PsCore>;
export type _ActionConforms = Conforms<typeof Photoshop.action, PsAction>;
export type _PlacementConforms = Conforms<typeof Photoshop.constants.ElementPlacement, { PLACEBEFORE: string }>;
export type _LayerConforms = Conforms<(typeof Photoshop.app)['activeDocument']['activeLayers'][number], PsLayer>;
export type _DocumentConforms = Conforms<(typeof Photoshop.app)['activeDocument'], PsDocument>;
export type _AppConforms = Conforms<typeof Photoshop.app, PsApp>;
