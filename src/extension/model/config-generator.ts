import path from 'node:path';
import { parseAllDocuments } from 'yaml';

/** A project file found in the workspace; `path` is relative to the workspace folder, with "/". */
export interface FoundFile {
  path: string;
  text: string;
}

export interface GeneratedConfig {
  yaml: string;
  services: string[];
  /** What was found and decided, for the user (shown after writing the file). */
  notes: string[];
}

interface Workload {
  kind: 'deployment' | 'statefulset' | 'daemonset';
  name: string;
  namespace?: string;
  containers: { name: string; image?: string }[];
  file: string;
}

interface Draft {
  name: string;
  dir: string;
  language: 'rust' | 'go' | 'docker';
  compile?: { command: string; cwd?: string; problemMatcher: string };
  watch: { paths: string[]; ignore: string[] };
  artifact?: string;
  dockerfile?: string;
  workload?: Workload;
}

const BUILD_IN_DOCKER = /^\s*RUN\b.*\b(cargo\s+build|go\s+build|gcc|g\+\+|make|mvn|gradle|npm\s+(ci|install|run))\b/im;

/**
 * Writes a starter tightloop.yaml from what the workspace contains: a service per Cargo.toml
 * (with [package]) or go.mod, compiled on the host to a static binary; a Dockerfile next to it is
 * used when it only packages (a Dockerfile that compiles is replaced by a generated one, because
 * compiling inside Docker is what Tightloop avoids); Kubernetes workloads are matched by name.
 */
export function generateConfig(found: FoundFile[], registry = '127.0.0.1:5000'): GeneratedConfig {
  const notes: string[] = [];
  const workloads = found.flatMap((f) => (/\.(ya?ml)$/i.test(f.path) ? workloadsIn(f) : []));
  const dockerfiles = found.filter((f) => path.posix.basename(f.path) === 'Dockerfile');
  const drafts: Draft[] = [];
  const names = new Set<string>();
  const unique = (wanted: string) => {
    let name = sanitize(wanted);
    for (let i = 2; names.has(name); i++) name = `${sanitize(wanted)}-${i}`;
    names.add(name);
    return name;
  };

  for (const file of found.filter((f) => path.posix.basename(f.path) === 'Cargo.toml')) {
    const pkg = /^\[package\][^[]*?^\s*name\s*=\s*"([^"]+)"/ms.exec(file.text)?.[1];
    if (!pkg) {
      notes.push(`${file.path}: a Cargo workspace without [package]; its members get their own services`);
      continue;
    }
    const dir = path.posix.dirname(file.path);
    const target = 'x86_64-unknown-linux-musl';
    drafts.push({
      name: unique(pkg),
      dir,
      language: 'rust',
      compile: { command: `cargo build --release --target ${target}`, ...(dir !== '.' && { cwd: dir }), problemMatcher: 'rustc' },
      watch: { paths: [dir], ignore: ['**/target/**'] },
      artifact: join(dir, `target/${target}/release/${pkg}`),
    });
    notes.push(`${file.path}: Rust service "${pkg}" (static musl binary; needs \`rustup target add ${target}\`)`);
  }

  for (const file of found.filter((f) => path.posix.basename(f.path) === 'go.mod')) {
    const module = /^module\s+(\S+)/m.exec(file.text)?.[1];
    const dir = path.posix.dirname(file.path);
    const base = module ? module.split('/').at(-1)! : path.posix.basename(dir === '.' ? 'app' : dir);
    const name = unique(base);
    // Inside .tightloop/ so the binary never re-triggers the watcher on the module folder.
    const out = `.tightloop/build/${name}`;
    drafts.push({
      name,
      dir,
      language: 'go',
      compile: {
        command: `CGO_ENABLED=0 GOOS=linux GOARCH=amd64 go build -o ${dir === '.' ? out : path.posix.relative(dir, out)} .`,
        ...(dir !== '.' && { cwd: dir }),
        problemMatcher: 'go',
      },
      watch: { paths: [dir], ignore: ['**/*_test.go', '**/vendor/**'] },
      artifact: out,
    });
    notes.push(`${file.path}: Go service "${name}" (CGO_ENABLED=0 static binary)`);
  }

  for (const draft of drafts) {
    const dockerfile = dockerfiles.find((d) => path.posix.dirname(d.path) === draft.dir);
    if (!dockerfile) continue;
    if (BUILD_IN_DOCKER.test(dockerfile.text)) {
      notes.push(`${dockerfile.path} compiles inside Docker; "${draft.name}" uses a generated Dockerfile that only copies the host-built binary`);
    } else draft.dockerfile = dockerfile.path;
  }

  // A Dockerfile with no language project beside it: a service built in compatibility mode.
  for (const dockerfile of dockerfiles) {
    const dir = path.posix.dirname(dockerfile.path);
    if (drafts.some((d) => d.dir === dir)) continue;
    const name = unique(dir === '.' ? 'app' : path.posix.basename(dir));
    drafts.push({ name, dir, language: 'docker', watch: { paths: [dir], ignore: ['**/.git/**'] }, dockerfile: dockerfile.path });
    notes.push(`${dockerfile.path}: no Cargo.toml or go.mod beside it; "${name}" builds its folder as the Docker context (slower; add a compile step for a thin image)`);
  }

  const unused = [...workloads];
  for (const draft of drafts) {
    const match = matchWorkload(draft.name, unused) ?? (drafts.length === 1 && unused.length === 1 ? unused[0] : undefined);
    if (!match) continue;
    draft.workload = match;
    unused.splice(unused.indexOf(match), 1);
    notes.push(`${match.file}: ${match.kind}/${match.name} is deployed by "${draft.name}"`);
  }
  for (const w of unused) notes.push(`${w.file}: ${w.kind}/${w.name} matches no service; add a deploy section by hand if it should be updated`);

  if (drafts.length === 0) {
    notes.push('no Cargo.toml, go.mod or Dockerfile found: wrote a template to fill in');
    return { yaml: template(registry), services: ['app'], notes };
  }
  return { yaml: render(drafts, registry), services: drafts.map((d) => d.name), notes };
}

function workloadsIn(file: FoundFile): Workload[] {
  const result: Workload[] = [];
  let docs;
  try {
    docs = parseAllDocuments(file.text);
  } catch {
    return result;
  }
  for (const doc of Array.isArray(docs) ? docs : [docs]) {
    if (doc.errors.length > 0) continue;
    const value = doc.toJS() as { kind?: unknown; metadata?: { name?: unknown; namespace?: unknown }; spec?: { template?: { spec?: { containers?: unknown } } } } | null;
    const kind = typeof value?.kind === 'string' ? value.kind.toLowerCase() : '';
    if (kind !== 'deployment' && kind !== 'statefulset' && kind !== 'daemonset') continue;
    const name = value?.metadata?.name;
    if (typeof name !== 'string') continue;
    const containers = Array.isArray(value?.spec?.template?.spec?.containers)
      ? (value.spec.template.spec.containers as ({ name?: unknown; image?: unknown } | null)[])
          .filter((c): c is { name: string; image?: unknown } => typeof c?.name === 'string')
          .map((c) => ({ name: c.name, ...(typeof c.image === 'string' && { image: c.image }) }))
      : [];
    result.push({ kind, name, containers, file: file.path, ...(typeof value?.metadata?.namespace === 'string' && { namespace: value.metadata.namespace }) });
  }
  return result;
}

/** Same name, or a container whose image's repository ends in the service name. */
function matchWorkload(service: string, workloads: Workload[]): Workload | undefined {
  return (
    workloads.find((w) => sanitize(w.name) === service) ??
    workloads.find((w) => w.containers.some((c) => c.image && imageName(c.image) === service))
  );
}

function imageName(image: string): string {
  const withoutDigest = image.split('@')[0]!;
  const last = withoutDigest.split('/').at(-1)!;
  return sanitize(last.split(':')[0]!);
}

function sanitize(name: string): string {
  const cleaned = name
    .toLowerCase()
    .replace(/[^a-z0-9-_.]+/g, '-')
    .replace(/^[^a-z0-9]+|[^a-z0-9]+$/g, '');
  return cleaned || 'app';
}

function join(dir: string, rest: string): string {
  return dir === '.' ? rest : `${dir}/${rest}`;
}

function q(value: string): string {
  return /^[A-Za-z0-9_./-]+$/.test(value) && !/^(true|false|null|yes|no|on|off|~)$/i.test(value) ? value : JSON.stringify(value);
}

function render(drafts: Draft[], registry: string): string {
  const out: string[] = [
    '# Starter config written by "Tightloop: Create Config". Every stage is timed; see the',
    '# Stage Timings panel. Reference: the README\'s config section.',
    'version: 1',
    'docker:',
    `  registry: ${q(registry)}   # where images are pushed; a cluster-advertised registry wins when this is removed`,
    'services:',
  ];
  for (const d of drafts) {
    out.push(`  ${d.name}:`);
    out.push(`    watch:`, `      paths: [${d.watch.paths.map(q).join(', ')}]`, `      ignore: [${d.watch.ignore.map(q).join(', ')}]`);
    if (d.compile) {
      out.push('    compile:', `      command: ${q(d.compile.command)}`);
      if (d.compile.cwd) out.push(`      cwd: ${q(d.compile.cwd)}`);
      out.push(`      problemMatcher: ${d.compile.problemMatcher}`);
    }
    if (d.artifact) {
      out.push('    stage:', `      dir: ${q(`.tightloop/stage/${d.name}`)}`, `      files: [{ from: ${q(d.artifact)}, to: ${q(d.name)} }]`);
    }
    out.push('    image:', `      repository: ${q(`${registry}/${d.name}`)}`);
    if (d.dockerfile) out.push(`      dockerfile: ${q(d.dockerfile)}`);
    if (!d.artifact) out.push(`      context: ${q(d.dir)}`);
    if (d.workload) {
      const container = d.workload.containers.length > 1 ? d.workload.containers.find((c) => c.image && imageName(c.image) === d.name) ?? d.workload.containers[0] : undefined;
      out.push('    deploy:', `      workload: ${q(`${d.workload.kind}/${d.workload.name}`)}`);
      if (container) out.push(`      container: ${q(container.name)}`);
      if (d.workload.namespace) out.push(`      namespace: ${q(d.workload.namespace)}`);
    } else {
      out.push('    # deploy:', '    #   workload: deployment/NAME   # no matching Kubernetes manifest was found');
    }
  }
  return out.join('\n') + '\n';
}

function template(registry: string): string {
  return [
    '# Starter config written by "Tightloop: Create Config". No Cargo.toml, go.mod or Dockerfile',
    '# was found, so fill in your build: a command that writes a static binary, the files the image',
    '# needs, and the workload to update.',
    'version: 1',
    'docker:',
    `  registry: ${q(registry)}`,
    'services:',
    '  app:',
    '    watch:',
    '      paths: ["."]',
    '      ignore: ["build/**", ".git/**"]',
    '    compile:',
    '      command: "mkdir -p build && echo \'replace with your build command\' && false"',
    '    stage:',
    '      dir: .tightloop/stage/app',
    '      files: [{ from: build/app, to: app }]',
    '    image:',
    `      repository: ${q(`${registry}/app`)}`,
    '    # deploy:',
    '    #   workload: deployment/app',
    '',
  ].join('\n');
}
