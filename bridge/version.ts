/** The package version, reported in the handshake and by `--version`. */
import pkg from '../package.json' with { type: 'json' };

export const BRIDGE_VERSION: string = pkg.version;
