import * as vscode from 'vscode';
import type { ConfigIssue, Diagnostic } from '../engine/index.js';
import { compilerSpan, configIssueSpan, groupByFile, type Span } from './model/positions.js';

/** Two collections: config problems (live, exact ranges) and compiler problems (per service). */
export class Problems implements vscode.Disposable {
  private readonly config = vscode.languages.createDiagnosticCollection('tightloop-config');
  private readonly compile = vscode.languages.createDiagnosticCollection('tightloop-compile');

  setConfigIssues(file: string, text: string, issues: ConfigIssue[]): void {
    const uri = vscode.Uri.file(file);
    this.config.set(
      uri,
      issues.map((issue) => {
        const d = new vscode.Diagnostic(toRange(configIssueSpan(issue, text)), issue.path ? `${issue.path}: ${issue.message}` : issue.message, vscode.DiagnosticSeverity.Error);
        d.source = 'tightloop';
        return d;
      }),
    );
  }

  clearConfig(file?: string): void {
    if (file) this.config.delete(vscode.Uri.file(file));
    else this.config.clear();
  }

  /** Replaces every compiler problem with the current sets of all services. */
  setCompile(perService: Iterable<[string, Diagnostic[]]>): void {
    this.compile.clear();
    for (const [file, list] of groupByFile(perService)) {
      this.compile.set(
        vscode.Uri.file(file),
        list.map((item) => {
          const d = new vscode.Diagnostic(toRange(compilerSpan(item)), item.message, item.severity === 'warning' ? vscode.DiagnosticSeverity.Warning : vscode.DiagnosticSeverity.Error);
          d.source = `tightloop: ${item.service}`;
          if (item.code) d.code = item.code;
          return d;
        }),
      );
    }
  }

  dispose(): void {
    this.config.dispose();
    this.compile.dispose();
  }
}

function toRange(span: Span): vscode.Range {
  return new vscode.Range(span.startLine, span.startColumn, span.endLine, span.endColumn);
}
