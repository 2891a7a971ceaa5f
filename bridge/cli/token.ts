/** `ipa-bridge token`: print (or reset) the pairing token. */
import { rmSync } from 'node:fs';
import { DEFAULT_PORT } from '../../shared/protocol/constants.ts';
import { loadOrCreateToken, tokenPath } from '../config.ts';
import { bridgeUrl } from '../connect.ts';
import { flag, num, parse } from './args.ts';
import { TOKEN_HELP } from './help.ts';

export async function runToken(argv: string[]): Promise<number> {
  const v = parse(argv, { reset: { type: 'boolean' }, path: { type: 'boolean' }, url: { type: 'boolean' }, port: { type: 'string' } });
  if (flag(v, 'help')) {
    process.stdout.write(TOKEN_HELP);
    return 0;
  }
  if (flag(v, 'path')) {
    process.stdout.write(`${tokenPath()}\n`);
    return 0;
  }
  if (flag(v, 'reset')) {
    if (process.env.IPA_BRIDGE_TOKEN) process.stderr.write('note: IPA_BRIDGE_TOKEN is set and overrides the stored token\n');
    rmSync(tokenPath(), { force: true });
  }
  const info = loadOrCreateToken();
  if (info.created) process.stderr.write(`created a new token in ${info.source}${flag(v, 'reset') ? ' (restart the daemon and re-pair the plugins)' : ''}\n`);
  const port = num(v, 'port', 1, 65535, true) ?? DEFAULT_PORT;
  process.stdout.write(flag(v, 'url') ? `${bridgeUrl('127.0.0.1', port, info.token)}\n` : `${info.token}\n`);
  return 0;
}
