import type { Stage, StageContext, StageResult } from '../stages/stage.js';
import { StageError } from '../stages/stage.js';
import { imagePlatforms, platformEnv, substitutePlatform } from '../platform.js';
import { ProblemMatcher } from './problem-matchers.js';
import { runCommand } from './run-command.js';

/**
 * Runs the service's own build command on the host (the whole point: Docker never compiles); once
 * per image platform, with that platform's `${arch}`-style values and TIGHTLOOP_PLATFORM… env.
 */
export const compileStage: Stage = {
  name: 'compile',
  skipReason: (ctx) => (ctx.service.compile ? undefined : 'no compile command configured'),
  async run(ctx: StageContext): Promise<StageResult> {
    const platforms = imagePlatforms(ctx.service.image);
    if (platforms.length <= 1) return compileOnce(ctx, platforms[0]);
    const details: string[] = [];
    for (const platform of platforms) {
      ctx.log(`compiling for ${platform}`, 'info');
      try {
        details.push(`${platform}: ${(await compileOnce(ctx, platform)).detail}`);
      } catch (error) {
        if (error instanceof StageError) throw new StageError(`${platform}: ${error.message}`, error.options);
        throw error;
      }
    }
    return { detail: details.join('; ') };
  },
};

async function compileOnce(ctx: StageContext, platform: string | undefined): Promise<StageResult> {
  const configured = ctx.service.compile!;
  const compile = platform ? { ...configured, command: substitutePlatform(configured.command, platform), env: { ...platformEnv(platform), ...configured.env } } : configured;
  const matcher = new ProblemMatcher(compile.problemMatcher, compile.cwd);
  try {
    let detail: string;
    if (compile.container) {
      // A build container needs dockerode: it comes with the Docker integration, loaded on first use.
      const { compileInContainer } = await import('../docker/index.js');
      // The log shows the container's own lines; the matcher gets them with workspace paths.
      detail = (await compileInContainer(ctx, compile, (mapped) => matcher.feed(mapped), (line, stream) => ctx.log(line, stream))).detail;
    } else {
      const result = await runCommand(compile, ctx.signal, (line, stream) => {
        matcher.feed(line);
        ctx.log(line, stream);
      }, { root: ctx.config.root, name: ctx.service.name });
      detail = `pid ${result.pid}`;
    }
    ctx.diagnostics(matcher.diagnostics);
    const warnings = matcher.diagnostics.filter((d) => d.severity === 'warning').length;
    return { detail: `${detail}${warnings ? `, ${warnings} warning(s)` : ''}` };
  } catch (error) {
    ctx.diagnostics(matcher.diagnostics);
    if (error instanceof StageError && matcher.diagnostics.some((d) => d.severity === 'error')) {
      const first = matcher.diagnostics.find((d) => d.severity === 'error')!;
      const count = matcher.diagnostics.filter((d) => d.severity === 'error').length;
      throw new StageError(`${count} compile error(s); first: ${first.file}:${first.line}:${first.column}: ${first.message}`, error.options);
    }
    throw error;
  }
}
