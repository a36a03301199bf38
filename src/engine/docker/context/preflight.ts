import path from 'node:path';
import picomatch from 'picomatch';
import type { StagedFile } from '../../stages/stage.js';
import { excludingRule, type ContextEntry } from './build-context.js';
import { contextSources, stageIsScratch, syntaxProblems } from './dockerfile.js';
import { archMismatch, readElf } from './elf.js';
import { formatBytes } from '../../../shared/format.js';
import type { BuildPlan } from './plan.js';

export interface Problem {
  message: string;
  hint?: string;
  evidence?: string[];
  /** A COPY/ADD source not in the staging folder (normalized), or an empty staging folder: what a first run may fix. */
  unstaged?: { source: string } | 'empty';
}

/**
 * Everything that would make the build or the container fail, found before building: Dockerfile
 * syntax, missing artifacts, context size, COPY sources outside the context, binaries the image
 * platform cannot run. Cheap except for reading ELF headers of the files the image gets.
 */
export async function findProblems(plan: BuildPlan, stagedFiles: StagedFile[] | undefined): Promise<Problem[]> {
  const { dockerfile, parsed, files } = plan;
  const syntax = syntaxProblems(parsed);
  if (syntax.length) {
    return syntax.map((p) => ({ message: `${dockerfile.label} line ${p.line}: ${p.message}`, hint: 'fix the Dockerfile; nothing was built' }));
  }
  const problems: Problem[] = [];
  const byPath = new Map(files.entries.map((e) => [e.path, e]));

  for (const staged of stagedFiles ?? []) {
    if (files.mode === 'staging' && !byPath.has(staged.path)) {
      problems.push({ message: `staged file ${staged.path} is missing from the staging folder ${files.root}`, hint: 'something removed it after the stage step; run again' });
    }
  }
  if (files.mode === 'staging' && !files.entries.some((e) => e.type === 'file')) {
    problems.push({ message: `the staging folder ${files.root} is empty: there is nothing to put in the image`, hint: 'check stage.files', unstaged: 'empty' });
  }

  if (files.bytes > plan.maxContextBytes) {
    const largest = files.entries.filter((e) => e.type === 'file').sort((a, b) => b.size - a.size).slice(0, 3);
    problems.push({
      message: `build context is ${formatBytes(files.bytes)}, over the ${formatBytes(plan.maxContextBytes)} limit (image.maxContextSize); largest: ${largest.map((e) => `${e.path} (${formatBytes(e.size)})`).join(', ')}`,
      hint: files.mode === 'compat' ? 'exclude large paths in .dockerignore, or raise image.maxContextSize' : 'stage fewer files, or raise image.maxContextSize',
    });
  }

  // Context files the image receives, with the stages they are copied into.
  const copied = new Map<ContextEntry, Set<number>>();
  for (const source of contextSources(parsed, plan.image.buildArgs)) {
    if (source.expanded === undefined) continue; // a variable we cannot resolve: the engine will judge
    const where = `${dockerfile.label} line ${source.instruction.line}`;
    const normalized = path.posix.normalize(source.expanded.replace(/^\/+/, '') || '.').replace(/\/+$/, '') || '.';
    if (normalized === '..' || normalized.startsWith('../')) {
      problems.push({ message: `${where}: ${source.instruction.keyword} source "${source.raw}" is outside the build context ${files.root}` });
      continue;
    }
    const matches = entriesFor(normalized, files.entries);
    if (matches.length) {
      for (const entry of matches) copied.set(entry, (copied.get(entry) ?? new Set()).add(source.instruction.stage));
      continue;
    }
    problems.push(missingSource(plan, where, source.instruction.keyword, source.raw, normalized));
  }

  problems.push(...(await binaryProblems(plan, copied)));
  return problems;
}

function entriesFor(source: string, entries: ContextEntry[]): ContextEntry[] {
  if (source === '.') return entries;
  const glob = /[*?[]/.test(source);
  const isMatch = glob ? picomatch(source, { dot: true }) : (p: string) => p === source;
  const roots = entries.filter((e) => isMatch(e.path)).map((e) => e.path);
  // A folder source copies everything below it.
  return entries.filter((e) => roots.some((r) => e.path === r || e.path.startsWith(r + '/')));
}

function missingSource(plan: BuildPlan, where: string, keyword: string, raw: string, normalized: string): Problem {
  const { files } = plan;
  const trap = 'the build would fail with "failed to compute cache key: not found"';
  if (files.mode === 'staging') {
    const staged = files.entries.filter((e) => e.type === 'file').map((e) => e.path);
    return {
      message: `${where}: ${keyword} source "${raw}" is not in the staging folder ${files.root} (staged: ${staged.join(', ') || 'nothing'})`,
      hint: 'the staging folder is the whole build context: add the file to stage.files, or fix the COPY path',
      unstaged: { source: normalized },
    };
  }
  const rule = excludingRule(files.rules, normalized);
  if (rule) {
    return {
      message: `${where}: ${keyword} source "${raw}" is excluded from the build context by .dockerignore line ${rule.line} ("${rule.pattern}"), so ${trap}`,
      hint: `add "!${normalized}" to ${path.join(files.root, '.dockerignore')} after line ${rule.line}, or COPY from a path that is not ignored`,
    };
  }
  return {
    message: `${where}: ${keyword} source "${raw}" does not exist in the build context ${files.root}, so ${trap}`,
    hint: 'was the artifact built? check the compile step output and the COPY path',
  };
}

/** ELF checks of the files that end up in the image: architecture, and a loader present in FROM scratch. */
async function binaryProblems(plan: BuildPlan, copied: Map<ContextEntry, Set<number>>): Promise<Problem[]> {
  const problems: Problem[] = [];
  const { platform } = plan.image;
  // The image that runs is the last stage; only a file copied into it, FROM scratch, lacks a loader.
  const last = plan.parsed.stages.length - 1;
  const finalIsScratch = plan.dockerfile.generated ? plan.image.base.toLowerCase() === 'scratch' : stageIsScratch(plan.parsed, last);
  const present = new Set(plan.files.entries.map((e) => e.path));
  const basenames = new Set(plan.files.entries.map((e) => path.posix.basename(e.path)));
  for (const [entry, stages] of copied) {
    if (entry.type !== 'file' || entry.size < 52) continue;
    const elf = await readElf(entry.abs).catch(() => undefined);
    if (!elf || (elf.kind !== 'executable' && elf.kind !== 'shared object')) continue;
    const mismatch = archMismatch(elf, platform);
    if (mismatch) {
      problems.push({
        message: `${entry.path} ${mismatch}: the container would fail with "exec format error"`,
        hint: `build it for ${platform} (e.g. GOARCH, or a Rust/C cross target), or set image.platform to match`,
      });
      continue;
    }
    if (finalIsScratch && stages.has(last) && elf.interpreter) {
      const inImage = plan.dockerfile.generated ? present.has(elf.interpreter.replace(/^\/+/, '')) : basenames.has(path.posix.basename(elf.interpreter));
      if (!inImage) {
        problems.push({
          message: `${entry.path} is dynamically linked (needs ${elf.interpreter}) but the image is FROM scratch, which has no such loader: the container would fail with "no such file or directory"`,
          hint: 'link it statically (musl target, CGO_ENABLED=0, -static), or use a base image with a libc (image.base)',
        });
      }
    }
  }
  return problems;
}
