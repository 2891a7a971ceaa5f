/** Constants every side of the wire agrees on. No Node APIs here: plugins import this too. */

/** Bumped on any incompatible change to messages or binary frames. */
export const PROTOCOL_VERSION = 1;

/** The daemon's default port; the plugin manifests list exactly this port. */
export const DEFAULT_PORT = 41872;

export const DEFAULT_HOST = '127.0.0.1';
