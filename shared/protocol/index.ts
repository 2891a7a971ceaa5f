/** The wire protocol, as one import for the daemon and both plugins. No Node APIs anywhere under shared/. */
export * from './constants.ts';
export * from './limits.ts';
export * from './messages.ts';
export * from './frame.ts';
export * from './validate.ts';
export * from './sha256.ts';
export * from './client.ts';
