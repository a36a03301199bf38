import os from 'node:os';
import type { ResolvedService } from '../../config/resolved.js';
import type { StageContext } from '../../stages/stage.js';
import { DockerClient } from '../../docker/daemon/client.js';
import { resolveDockerEndpoint } from '../../docker/daemon/host.js';
import { DEFAULT_TIMEOUTS } from '../../docker/options.js';
import type { LogStream } from '../../types.js';
import { execInContainer } from './container-exec.js';
import { containerPath, ensureBuildContainer } from './dev-container.js';

type Compile = NonNullable<ResolvedService['compile']>;

/**
 * compile with compile.container: the kept dev build container is made ready (started once, reused
 * while its image and settings stay the same), then the command runs in it via docker exec.
 * Output lines reach the log as they are; the problem matcher sees container paths mapped back to
 * the workspace, so diagnostics point at files on the host.
 */
export async function compileInContainer(
  ctx: StageContext,
  compile: Compile,
  /** The matcher's view: container paths mapped to workspace paths. */
  match: (line: string, stream: LogStream) => void,
  log: (line: string, stream: LogStream) => void,
): Promise<{ detail: string }> {
  const spec = compile.container!;
  const client = new DockerClient(resolveDockerEndpoint(ctx.config.docker.host, process.env, os.homedir()), DEFAULT_TIMEOUTS);
  try {
    const kept = await ensureBuildContainer(client, { root: ctx.config.root, service: ctx.service.name }, spec, ctx.signal);
    const said = { created: 'started', started: 'started again (it was stopped)', reused: 'reusing', recreated: `recreated (${kept.why})` }[kept.state];
    ctx.log(`build container ${kept.name} (${spec.image}): ${said}`, 'info');
    const workdir = spec.workdir.replace(/\/+$/, '') || '/';
    const hostRoot = ctx.config.root;
    const result = await execInContainer(
      client,
      kept.id,
      { command: compile.command, cwd: containerPath(hostRoot, workdir, compile.cwd), env: { ...spec.env, ...compile.env }, timeoutMs: compile.timeoutMs },
      ctx.signal,
      (line, stream) => {
        match(line.split(`${workdir}/`).join(`${hostRoot}/`), stream);
        log(line, stream);
      },
    );
    return { detail: `in build container ${kept.name} (${kept.state})${result.pid ? `, pid ${result.pid} inside` : ''}` };
  } finally {
    client.dispose();
  }
}
