import * as vscode from 'vscode';
import type { Tightloop } from '../tightloop.js';
import { UserError } from '../errors.js';
import { l10n } from '../l10n.js';
import type { TightloopCommand } from './index.js';

/** Opens a port-forward (http://127.0.0.1:PORT) in the browser: the view's inline action or a click on the row. */
export const openPortForward: TightloopCommand = {
  id: 'tightloop.openPortForward',
  async run(_tl: Tightloop, arg?: unknown) {
    const url = typeof arg === 'string' ? arg : (arg as { url?: unknown } | undefined)?.url;
    // Only our own loopback forwards: this command is reachable from tooltips' command links.
    if (typeof url !== 'string' || !/^http:\/\/127\.0\.0\.1:\d{1,5}\/?$/.test(url)) {
      throw new UserError(l10n.t('Open Port-Forward needs a forwarded port (pick one in the Tightloop view).'));
    }
    const opened = await vscode.env.openExternal(vscode.Uri.parse(url));
    return opened ? url : undefined;
  },
};
