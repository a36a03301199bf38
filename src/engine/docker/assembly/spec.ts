import path from 'node:path';
import { unquote, type DockerfileInstruction } from '../context/dockerfile.js';
import { imageLabels, type BuildPlan } from '../context/plan.js';

/** One COPY (or, for a generated Dockerfile, one top-level staged entry): one layer. */
export interface CopyStep {
  /** For the image history and messages, e.g. "COPY app /app". */
  createdBy: string;
  /** Context paths as written (normalised, no leading slash; "." is the whole context). */
  sources: string[];
  /** Absolute destination in the image. */
  dest: string;
  /** Destination is a folder: sources land inside it (trailing slash, several sources, a glob). */
  destIsDir: boolean;
  uid: number;
  gid: number;
}

/** What an image made only of COPY layers and metadata needs: what the classic builder would produce. */
export interface DirectSpec {
  copies: CopyStep[];
  /** WORKDIRs: the builder creates them, so the image has them even if no COPY does. */
  workdirs: string[];
  entrypoint?: string[];
  cmd?: string[];
  env: string[];
  exposedPorts: string[];
  user?: string;
  workingDir?: string;
  labels: Record<string, string>;
  /** image.layers (generated Dockerfile only): declared layers before the per-entry ones. */
  layers?: { name: string; files: string[]; key?: string[] }[];
}

export type DirectDecision = { direct: true; spec: DirectSpec; why: string } | { direct: false; why: string };

/** The classic builder gives FROM scratch images this PATH; an in-process image does the same. */
const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

/**
 * Whether the image can be assembled in-process: a generated Dockerfile always can; a user one only
 * when every instruction is FROM scratch, COPY from the context (numeric --chown at most), ENTRYPOINT,
 * CMD, ENV, EXPOSE, USER, WORKDIR or LABEL, with no variables to expand. Anything else needs the builder.
 */
export function decideDirect(plan: BuildPlan): DirectDecision {
  const labels = imageLabels(plan.service, plan.image.platform);
  if (plan.dockerfile.generated) {
    if (plan.image.base.toLowerCase() !== 'scratch') return { direct: false, why: `engine build: image.base ${plan.image.base} is not scratch, so the builder pulls it` };
    // `COPY . /` split per top-level entry: the same files, but an unchanged entry keeps its layer.
    const tops = plan.files.entries.filter((e) => !e.path.includes('/')).map((e) => e.path);
    const copies = tops.map((top) => ({ createdBy: `COPY ${top} /${top}`, sources: [top], dest: `/${top}`, destIsDir: false, uid: 0, gid: 0 }));
    return {
      direct: true,
      why: 'direct push: generated Dockerfile (FROM scratch + COPY), no engine build',
      spec: { copies, workdirs: [], entrypoint: ['/' + plan.dockerfile.entrypoint!], env: [DEFAULT_PATH], exposedPorts: [], labels, ...(plan.image.layers && { layers: plan.image.layers }) },
    };
  }
  const spec: DirectSpec = { copies: [], workdirs: [], env: [DEFAULT_PATH], exposedPorts: [], labels: {} };
  let workdir = '/';
  for (const instruction of plan.parsed.instructions) {
    const refused = (what: string) => ({ direct: false as const, why: `engine build: ${what} on line ${instruction.line} needs the builder` });
    const { keyword, args } = instruction;
    if (keyword !== 'ENTRYPOINT' && keyword !== 'CMD' && args.some((a) => a.includes('$'))) return refused(`a variable in ${keyword}`);
    if (keyword === 'FROM') {
      if (instruction.stage > 0) return refused('a second FROM (multi-stage)');
      if (args[0]?.toLowerCase() !== 'scratch' || args.length > 1 || Object.keys(instruction.flags).length) return refused(`FROM ${args.join(' ')}`);
    } else if (keyword === 'COPY') {
      const flags = Object.keys(instruction.flags);
      if (flags.some((f) => f !== 'chown')) return refused(`COPY --${flags.find((f) => f !== 'chown')}`);
      const owner = numericOwner(instruction.flags.chown);
      if (!owner) return refused(`COPY --chown=${instruction.flags.chown} (not numeric)`);
      if (args.some((a) => a.startsWith('<<'))) return refused('a COPY heredoc');
      const rawDest = args[args.length - 1]!;
      const sources = args.slice(0, -1).map((s) => path.posix.normalize(s.replace(/^\/+/, '') || '.').replace(/\/+$/, '') || '.');
      spec.copies.push({
        createdBy: instruction.text,
        sources,
        dest: path.posix.resolve(workdir, rawDest),
        destIsDir: rawDest.endsWith('/') || sources.length > 1 || sources.some((s) => /[*?[]/.test(s)),
        ...owner,
      });
    } else if (keyword === 'ENTRYPOINT' || keyword === 'CMD') {
      const command = commandOf(instruction);
      if (keyword === 'ENTRYPOINT') spec.entrypoint = command;
      else spec.cmd = command;
    } else if (keyword === 'ENV' || keyword === 'LABEL') {
      for (const [key, value] of pairs(instruction)) {
        if (keyword === 'LABEL') spec.labels[key] = value;
        else spec.env = [...spec.env.filter((e) => !e.startsWith(`${key}=`)), `${key}=${value}`];
      }
    } else if (keyword === 'EXPOSE') {
      for (const port of args) {
        if (!/^\d+(\/(tcp|udp|sctp))?$/i.test(port)) return refused(`EXPOSE ${port}`);
        const full = port.includes('/') ? port.toLowerCase() : `${port}/tcp`;
        if (!spec.exposedPorts.includes(full)) spec.exposedPorts.push(full);
      }
    } else if (keyword === 'USER') {
      spec.user = args.join(' ');
    } else if (keyword === 'WORKDIR') {
      workdir = path.posix.resolve(workdir, args.join(' '));
      spec.workingDir = workdir;
      if (!spec.workdirs.includes(workdir)) spec.workdirs.push(workdir);
    } else {
      return refused(keyword);
    }
  }
  // Tightloop's labels come last, as the LABEL line the engine path appends.
  spec.labels = { ...spec.labels, ...labels };
  return { direct: true, spec, why: 'direct push: FROM scratch + COPY only, no engine build' };
}

function numericOwner(chown: string | undefined): { uid: number; gid: number } | undefined {
  if (chown === undefined) return { uid: 0, gid: 0 };
  const match = /^(\d+)(?::(\d+))?$/.exec(chown);
  if (!match) return undefined;
  const uid = Number(match[1]);
  return { uid, gid: match[2] === undefined ? uid : Number(match[2]) };
}

/** Exec form (a JSON array) as is; shell form the way the builder wraps it. */
function commandOf(instruction: DockerfileInstruction): string[] {
  const raw = instruction.text.slice(instruction.keyword.length).trim();
  if (raw.startsWith('[')) {
    try {
      const parsed = JSON.parse(raw) as unknown;
      if (Array.isArray(parsed) && parsed.every((x) => typeof x === 'string')) return parsed as string[];
    } catch {
      // not JSON: shell form, as the builder does
    }
  }
  return ['/bin/sh', '-c', raw];
}

/** `K=V K2="v 2"` pairs, or the legacy `K V…` form. */
function pairs(instruction: DockerfileInstruction): [string, string][] {
  const words = tokens(instruction.text.slice(instruction.keyword.length));
  if (words.length >= 2 && !words[0]!.includes('=')) return [[unquote(words[0]!), words.slice(1).map(unquote).join(' ')]];
  return words.map((word) => {
    const eq = word.indexOf('=');
    return eq < 0 ? [unquote(word), ''] : [unquote(word.slice(0, eq)), unquote(word.slice(eq + 1))];
  });
}

/** Splits on blanks outside quotes (the parser's own arguments split "a b" inside quotes). */
function tokens(text: string): string[] {
  return text.match(/(?:"(?:\\.|[^"\\])*"|'[^']*'|\\.|[^\s"'])+/g) ?? [];
}
