import './zod-setup.js';
import { App } from './app.js';
import { post } from './vscode-api.js';

// Anything the CSP blocks is reported to the extension's log (and fails the end-to-end test).
// Kept on window too, so an end-to-end test can assert there were none.
const violations: string[] = [];
(window as unknown as { tightloopCspViolations: string[] }).tightloopCspViolations = violations;
document.addEventListener('securitypolicyviolation', (event) => {
  const blocked = event.blockedURI || event.sourceFile || 'inline';
  violations.push(`${event.violatedDirective}: ${blocked} (${(event.target as Element | null)?.nodeName ?? '?'}) at ${event.lineNumber}:${event.columnNumber} ${event.sample}`);
  post({ type: 'cspViolation', directive: event.violatedDirective, blocked });
});

const root = document.getElementById('app');
if (root) {
  const app = new App(root);
  window.addEventListener('message', (event: MessageEvent) => app.receive(event.data));
  post({ type: 'ready' });
}
