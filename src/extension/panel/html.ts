import { randomBytes } from 'node:crypto';

export interface PanelHtmlInput {
  /** webview.cspSource: the origin the webview may load our files from. */
  cspSource: string;
  scriptUri: string;
  styleUri: string;
  nonce?: string;
}

/**
 * The panel's only HTML. Strict CSP: nothing by default; our stylesheet and our one nonce'd
 * script; no 'unsafe-inline', no eval. The toolkit's components style themselves with
 * constructable stylesheets and CSSOM, which this policy allows. The one <style> element the
 * toolkit creates (fast-web-utilities probing :focus-visible support) carries the nonce it reads
 * from the csp-nonce meta tag, so styles get the same nonce as the script.
 */
export function panelHtml(input: PanelHtmlInput): string {
  const nonce = input.nonce ?? newNonce();
  const csp = [
    "default-src 'none'",
    `style-src ${input.cspSource} 'nonce-${nonce}' 'report-sample'`,
    `font-src ${input.cspSource}`,
    `img-src ${input.cspSource} data:`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeAttr(csp)}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<meta property="csp-nonce" content="${nonce}">
<link rel="stylesheet" href="${escapeAttr(input.styleUri)}">
<title>Tightloop: Stage Timings</title>
</head>
<body>
<main id="app" aria-live="polite"><p class="placeholder">Loading stage timings…</p></main>
<script nonce="${nonce}" src="${escapeAttr(input.scriptUri)}"></script>
</body>
</html>`;
}

export function newNonce(): string {
  return randomBytes(18).toString('base64url');
}

function escapeAttr(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/"/g, '&quot;').replace(/</g, '&lt;');
}
