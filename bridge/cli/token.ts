/** `ipa-bridge token`: print (or reset) the pairing token. */
import { rmSync } from 'node:fs';
import { Command } from 'commander';
import { DEFAULT_PORT } from '../../shared/protocol/constants.ts';
import { loadOrCreateToken, tokenPath } from '../config.ts';
import { bridgeUrl } from '../connect.ts';
import { intArg } from './args.ts';
import { TOKEN_HELP_AFTER } from './help.ts';

interface TokenOptions {
  readonly reset?: boolean;
  readonly path?: boolean;
  readonly url?: boolean;
  readonly port: number;
}

export function tokenCommand(ran: (code: number) => void): Command {
  return new Command('token')
    .description('print the pairing token to paste into a plugin')
    .option('--reset', 'make a new token (plugins must be re-paired; restart the daemon)')
    .option('--path', "print the token file's path instead")
    .option('--url', 'print the full WebSocket URL with the token')
    .option('--port <n>', 'port for --url', intArg(1, 65535), DEFAULT_PORT)
    .addHelpText('after', TOKEN_HELP_AFTER)
    .action((o: TokenOptions) => ran(runToken(o)));
}

function runToken(o: TokenOptions): number {
  if (o.path) {
    process.stdout.write(`${tokenPath()}\n`);
    return 0;
  }
  if (o.reset) {
    if (process.env.IPA_BRIDGE_TOKEN) process.stderr.write('note: IPA_BRIDGE_TOKEN is set and overrides the stored token\n');
    rmSync(tokenPath(), { force: true });
  }
  const info = loadOrCreateToken();
  if (info.created) process.stderr.write(`created a new token in ${info.source}${o.reset ? ' (restart the daemon and re-pair the plugins)' : ''}\n`);
  process.stdout.write(o.url ? `${bridgeUrl('127.0.0.1', o.port, info.token)}\n` : `${info.token}\n`);
  return 0;
}
