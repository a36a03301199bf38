import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { compileStage } from '../../src/engine/compile/compile-stage.js';
import { buildContainerName, cacheVolumeName } from '../../src/engine/compile/container/dev-container.js';
import type { CompileContainer, ResolvedService } from '../../src/engine/config/resolved.js';
import { createDockerStages } from '../../src/engine/docker/index.js';
import { StageError } from '../../src/engine/stages/stage.js';
import type { Diagnostic } from '../../src/engine/types.js';
import * as h from './helpers.js';
import { buildToolchainImage } from './toolchain-image.js';

// compile.container: a kept dev build container (real Docker engine, image built FROM scratch with
// static busybox, --network none): started once, reused, cancel kills the process tree inside, a
// changed image recreates it, and the named cache volume outlives the recreation.
before(() => h.ensureServices());

const TAG = `tightloop-test/toolchain:${h.uniqueName('a')}`;
const TAG2 = `tightloop-test/toolchain:${h.uniqueName('b')}`;
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => {});
});

before(async () => {
  await buildToolchainImage(TAG, 'one');
  await buildToolchainImage(TAG2, 'two');
  cleanups.push(async () => {
    await h.dockerCli(['rmi', '-f', TAG, TAG2], { reject: false });
  });
});

/** The count in the cache volume goes up by one per compile: what "the cache persisted" means here. */
const COUNTING = 'n=$(cat /cache/count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /cache/count; mkdir -p out; echo "build $n $(cat /etc/marker)" > out/app; echo compiled $n';

async function setup() {
  const root = await h.tempDir('tl-devc-');
  const name = h.uniqueName('svc');
  const cache = h.uniqueName('cache');
  const container = (image: string): CompileContainer => ({ image, workdir: '/workspace', mounts: [], caches: [{ name: cache, target: '/cache' }], env: { FROM_CONFIG: 'yes' }, network: 'none' });
  const service: ResolvedService = {
    ...h.makeService(name, { repository: '127.0.0.1:5000/unused' }),
    compile: { command: COUNTING, cwd: root, env: {}, timeoutMs: 60_000, problemMatcher: 'none', container: container(TAG) },
  };
  delete service.image;
  const config = h.makeConfig(root, [service]);
  const containerName = buildContainerName(root, name);
  cleanups.push(async () => {
    await h.dockerCli(['rm', '-f', containerName], { reject: false });
    await h.dockerCli(['volume', 'rm', '-f', cacheVolumeName(cache)], { reject: false });
    await h.rm(root, { recursive: true, force: true });
  });
  const compile = async (command = COUNTING, signal?: AbortSignal, onLog?: (text: string) => void, onDiagnostics?: (list: Diagnostic[]) => void) => {
    service.compile!.command = command;
    const t = h.makeContext(config, name, {}, { ...(signal && { signal }), ...(onLog && { onLog }) });
    if (onDiagnostics) t.ctx.diagnostics = onDiagnostics;
    const result = await compileStage.run(t.ctx).catch((error: unknown) => error);
    return { t, result };
  };
  const doctor = async () => {
    const stages = createDockerStages(config);
    try {
      const check = stages.doctor!.find((c) => c.name === 'build container')!;
      const [result] = await check.run(config, new AbortController().signal);
      return result!;
    } finally {
      await stages.dispose();
    }
  };
  const inspect = async () => JSON.parse((await h.dockerCli(['inspect', containerName])).stdout)[0] as { Id: string; State: { StartedAt: string; Running: boolean }; Config: { Labels: Record<string, string> } };
  return { root, service, compile, inspect, doctor, containerName, container };
}

describe('dev build container (compile.container)', () => {
  test('first compile starts it, the second reuses it, cancel kills the process tree inside, a changed image recreates it and the cache volume survives', async () => {
    const s = await setup();
    assert.match((await s.doctor()).message, /not started yet: the first compile starts it$/);

    const first = await s.compile();
    assert.ok(!(first.result instanceof Error), `${String(first.result)}\n${first.t.logText()}`);
    assert.match(first.t.logText(), new RegExp(`build container ${s.containerName} \\(${TAG.replace(/[.:/]/g, '\\$&')}\\): started`));
    assert.match(first.t.logText(), /\[stdout\] compiled 1/);
    assert.equal(await h.readFile(h.path.join(s.root, 'out', 'app'), 'utf8'), 'build 1 one\n', 'written into the workspace through the mount');
    const created = await s.inspect();
    assert.equal(created.Config.Labels['dev.tightloop.managed'], 'true');
    assert.equal(created.Config.Labels['dev.tightloop.role'], 'build');
    assert.match(created.Config.Labels['dev.tightloop.config-hash']!, /^[0-9a-f]{64}$/);

    const second = await s.compile();
    assert.ok(!(second.result instanceof Error), String(second.result));
    assert.match(second.t.logText(), /: reusing/);
    assert.match(second.t.logText(), /compiled 2/);
    const reused = await s.inspect();
    assert.equal(reused.Id, created.Id, 'the same container');
    assert.equal(reused.State.StartedAt, created.State.StartedAt, 'not restarted');

    // The env of the exec: compile.container.env reaches the command.
    const env = await s.compile('echo "env $FROM_CONFIG"');
    assert.match(env.t.logText(), /\[stdout\] env yes/);

    // Cancel while a process tree runs inside: the shell, a background sleep and a foreground one.
    const abort = new AbortController();
    const cancelled = s.compile('sleep 301 & echo started-tree; sleep 302', abort.signal, (text) => {
      if (text === 'started-tree') abort.abort();
    });
    const { result } = await cancelled;
    assert.ok(result instanceof StageError, String(result));
    assert.equal(result.message, 'cancelled');
    const ps = (await h.dockerCli(['exec', s.containerName, 'ps', '-o', 'pid,args'])).stdout;
    assert.doesNotMatch(ps, /sleep 30[12]/, `nothing of the cancelled compile is left inside:\n${ps}`);

    // A timeout stops the process tree inside the container just the same.
    s.service.compile!.timeoutMs = 1500;
    const slow = await s.compile('sleep 303 & echo slow-started; sleep 304');
    s.service.compile!.timeoutMs = 60_000;
    assert.ok(slow.result instanceof StageError, String(slow.result));
    assert.match(slow.result.message, /timed out after .* in the build container and was stopped$/);
    assert.doesNotMatch((await h.dockerCli(['exec', s.containerName, 'ps', '-o', 'pid,args'])).stdout, /sleep 30[34]/);

    // Compiler messages name container paths; the problem matcher gets them as workspace paths.
    s.service.compile!.problemMatcher = 'gcc';
    const diagnostics: { file: string; line: number; message: string }[] = [];
    const broken = await s.compile('echo "/workspace/src/main.c:3:5: error: expected \';\' before \'}\'" >&2; exit 1', undefined, undefined, (list) => diagnostics.push(...list));
    s.service.compile!.problemMatcher = 'none';
    assert.ok(broken.result instanceof StageError);
    assert.match(broken.t.logText(), /\[stderr\] \/workspace\/src\/main\.c:3:5: error/, 'the log shows the line as the compiler wrote it');
    assert.deepEqual(diagnostics.map((d) => [d.file, d.line]), [[h.path.join(s.root, 'src', 'main.c'), 3]]);

    // A failing command fails the stage with its exit code.
    const failing = await s.compile('echo oops >&2; exit 3');
    assert.ok(failing.result instanceof StageError);
    assert.match(failing.result.message, /exited with code 3 in the build container/);

    const running = await s.doctor();
    assert.equal(running.status, 'ok');
    assert.match(running.message, /: running since /);
    assert.doesNotMatch(running.message, /recreates/);

    // A changed image: doctor says so; the compile recreates it; the cache volume (count) carried over.
    s.service.compile!.container = s.container(TAG2);
    assert.match((await s.doctor()).message, /its image or settings changed, so the next compile recreates it$/);
    const third = await s.compile();
    assert.ok(!(third.result instanceof Error), `${String(third.result)}\n${third.t.logText()}`);
    assert.match(third.t.logText(), new RegExp(`: recreated \\(its image ${TAG2.replace(/[.:/]/g, '\\$&')} changed\\)`));
    assert.equal(await h.readFile(h.path.join(s.root, 'out', 'app'), 'utf8'), 'build 3 two\n', 'the new image, the old cache');
    assert.notEqual((await s.inspect()).Id, created.Id);
  });
});
