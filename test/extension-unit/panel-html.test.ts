import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { panelHtml } from '../../src/extension/panel/html.js';

describe('panel HTML', () => {
  const html = panelHtml({ cspSource: 'https://webview.example', scriptUri: 'https://webview.example/dist/webview.js', styleUri: 'https://webview.example/media/panel.css', nonce: 'n0nce' });
  const csp = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1] ?? '';

  it('has a strict CSP: nothing by default, our origin for styles, a nonce for the one script', () => {
    assert.match(csp, /^default-src 'none';/);
    assert.match(csp, /script-src 'nonce-n0nce'/);
    assert.match(csp, /style-src https:\/\/webview\.example 'nonce-n0nce' 'report-sample'(;|$)/);
    assert.match(html, /<meta property="csp-nonce" content="n0nce">/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval|\*/);
  });

  it('loads exactly one script, with the nonce, and no inline script, style or handler', () => {
    const scripts = html.match(/<script[^>]*>/g) ?? [];
    assert.deepEqual(scripts, ['<script nonce="n0nce" src="https://webview.example/dist/webview.js">']);
    assert.doesNotMatch(html, /<style|style=|onload=|onclick=/);
    assert.match(html, /<link rel="stylesheet" href="https:\/\/webview\.example\/media\/panel\.css">/);
  });

  it('uses a fresh nonce every time', () => {
    const a = panelHtml({ cspSource: 'x', scriptUri: 's', styleUri: 'c' });
    const b = panelHtml({ cspSource: 'x', scriptUri: 's', styleUri: 'c' });
    assert.notEqual(/nonce-([^']+)/.exec(a)?.[1], /nonce-([^']+)/.exec(b)?.[1]);
  });
});
