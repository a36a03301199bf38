import * as vscode from 'vscode';
import type { EngineEvent, LogLine } from '../engine/index.js';
import { formatDuration } from '../shared/format.js';

/**
 * One log channel for everything, every line prefixed with its service (and stage), so a
 * dependency chain reads in order. The channel's own level filter hides debug noise.
 */
export class Output implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('Tightloop', { log: true });
  }

  info(message: string): void {
    this.channel.info(message);
  }

  warn(message: string): void {
    this.channel.warn(message);
  }

  error(message: string | Error): void {
    this.channel.error(message);
  }

  event(event: EngineEvent): void {
    const c = this.channel;
    switch (event.type) {
      case 'run-started':
        c.info(`[${event.service}] run started (${event.trigger.reason}${event.trigger.changedFiles.length ? `: ${event.trigger.changedFiles.length} file(s)` : ''})`);
        break;
      case 'stage-finished': {
        const r = event.record;
        const line = `[${r.service}] ${r.stage} ${r.status}${r.status === 'skipped' ? '' : ` in ${formatDuration(r.durationMs)}`}${r.detail ? ` — ${r.detail}` : ''}`;
        if (r.status === 'failed') c.error(line);
        else if (r.status === 'cancelled') c.warn(line);
        else c.info(line);
        break;
      }
      case 'log':
        this.logLine(event.line);
        break;
      case 'run-finished': {
        const s = event.summary;
        if (s.status === 'ok') c.info(`[${s.service}] ✓ done in ${formatDuration(s.durationMs)}${s.image ? ` — ${s.image}` : ''}`);
        else {
          const write = s.status === 'failed' ? c.error.bind(c) : c.warn.bind(c);
          write(`[${s.service}] ✗ ${s.status}${s.error ? `: ${s.error}` : ''}`);
          if (s.hint) write(`[${s.service}]   hint: ${s.hint}`);
        }
        break;
      }
      case 'changes-pending':
        c.info(`[${event.service}] changes pending (trigger: manual): ${event.changedFiles.length} file(s); run "Tightloop: Rebuild Service…" to apply`);
        break;
      case 'warning':
        c.warn(`${event.service ? `[${event.service}] ` : ''}${event.message}`);
        break;
      case 'config-error':
        for (const issue of event.errors) c.error(`${issue.file}:${issue.line}:${issue.column}: ${issue.path ? `${issue.path}: ` : ''}${issue.message}`);
        break;
      default:
        break;
    }
  }

  private logLine(line: LogLine): void {
    const prefix = `[${line.service}${line.stage ? ` ${line.stage}` : ''}] `;
    const text = prefix + line.text;
    if (line.stream === 'error') this.channel.error(text);
    else if (line.stream === 'warn' || line.stream === 'stderr') this.channel.warn(text);
    else this.channel.info(text);
  }

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
