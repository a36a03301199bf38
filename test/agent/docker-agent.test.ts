/**
 * The live-update agent in real containers on the real Docker engine: FROM scratch images with
 * the agent as PID 1 and a static test server, files synced over `docker exec`.
 */
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { DockerExecTransport } from '../../src/engine/live/docker-exec.js';
import { LiveSyncError, liveSync, syncFileFrom, type SyncFile } from '../../src/engine/live/sync.js';
import { RECEIVE_ARGV, preamble, fileHeader } from '../../src/engine/live/protocol.js';
import { docker, dockerCli, ensureServices, padTo, tempDir } from '../docker/helpers.js';
import { freePort } from '../helpers/net.js';
import { buildImage, childrenOf, get, runContainer, serverBinary, waitUntil, type LiveImage, type RunningContainer } from './helpers.js';

const RESTART = { kind: 'restart', listenWaitMs: 10_000 } as const;
let image: LiveImage;
let work: string;
const cleanup: (() => Promise<void>)[] = [];

async function serverFile(version: string, pad = 0): Promise<SyncFile> {
  const file = path.join(work, `server-${version}`);
  const binary = await serverBinary(version);
  await writeFile(file, pad ? padTo(binary, pad, version) : binary, { mode: 0o755 });
  return syncFileFrom(file, '/app/server');
}

async function start(ref = image.ref): Promise<RunningContainer> {
  const c = await runContainer(ref, await freePort());
  cleanup.push(c.remove);
  return c;
}

const version = async (c: RunningContainer) => (await get(c.port, '/')).body.split(' ')[0];

before(async () => {
  await ensureServices();
  work = await tempDir('tl-live-');
  image = await buildImage('v1');
  cleanup.push(image.remove);
});
after(async () => {
  for (const fn of cleanup.reverse()) await fn();
});

describe('agent in a real container', () => {
  test('a sync replaces the binary, restarts the process and reports when it listens', async () => {
    const c = await start();
    assert.equal(await version(c), 'v1');
    const result = await liveSync(new DockerExecTransport(docker, c.id), [await serverFile('v2')], RESTART);
    assert.equal(result.action, 'restart');
    assert.deepEqual(result.ports, [c.port]);
    assert.ok(result.pid && result.pid > 1, `new pid ${result.pid}`);
    assert.ok(result.listenMs !== undefined && result.restartMs !== undefined);
    assert.equal(await version(c), 'v2');
  });

  test("the child's output reaches the container's log while it runs, and again after a restart", async () => {
    // The agent copies the child's stdout/stderr as it comes (a bug once left it unread: the agent
    // spun on the readable pipe at full CPU and the logs appeared only when the child exited).
    const c = await start();
    const logs = async () => {
      const { stdout, stderr } = await dockerCli(['logs', c.id]);
      return stdout + stderr;
    };
    await waitUntil('the start line is in the log', 10_000, async () => (await logs()).includes(`version v1 listening on ${c.port}`));
    await liveSync(new DockerExecTransport(docker, c.id), [await serverFile('v2')], RESTART);
    await waitUntil("the restarted process's line is in the log", 10_000, async () => (await logs()).includes(`version v2 listening on ${c.port}`));
  });

  test('swaps under load: in-flight requests are answered, refusals last no longer than the restart', async () => {
    const c = await start();
    const transport = new DockerExecTransport(docker, c.id);
    type Outcome = { startedAt: number; endedAt: number; path: string; version?: string; error?: string };
    const outcomes: Outcome[] = [];
    let running = true;
    const loop = async (pathname: string) => {
      while (running) {
        const startedAt = performance.now();
        try {
          const reply = await get(c.port, pathname);
          outcomes.push({ startedAt, endedAt: performance.now(), path: pathname, version: reply.body.split(' ')[0] });
        } catch (error) {
          outcomes.push({ startedAt, endedAt: performance.now(), path: pathname, error: (error as NodeJS.ErrnoException).code ?? (error as Error).message });
        }
      }
    };
    const loops = [loop('/'), loop('/'), loop('/slow'), loop('/slow')];
    await waitUntil('the load reaches the server', 10_000, () => outcomes.filter((o) => o.version === 'v1').length >= 4);
    const swaps: { at: number; restartMs: number; listenMs: number }[] = [];
    for (const v of ['v2', 'v3', 'v4']) {
      const at = performance.now();
      const r = await liveSync(transport, [await serverFile(v)], RESTART);
      swaps.push({ at, restartMs: r.restartMs!, listenMs: r.listenMs! });
      await waitUntil(`${v} answers under load`, 10_000, () => outcomes.some((o) => o.version === v && o.startedAt > at));
    }
    running = false;
    await Promise.all(loops);

    // Not served = refused (no listener) or reset while the old process closed its listener with
    // a connection still in the kernel's handshake (never accepted by any process). A request the
    // server had accepted and was working on (/slow: 300 ms) must never fail.
    const notServed = (o: Outcome) => o.error === 'ECONNREFUSED' || o.error === 'ECONNRESET';
    const otherErrors = outcomes.filter((o) => o.error && !notServed(o));
    assert.deepEqual(otherErrors, [], 'a request failed in an unexpected way');
    const cutInFlight = outcomes.filter((o) => o.error && o.path === '/slow' && o.endedAt - o.startedAt >= 250);
    assert.deepEqual(cutInFlight, [], 'a request in flight was cut off instead of answered');
    assert.ok(outcomes.filter((o) => o.path === '/slow' && o.version).length > 0, 'slow requests were answered');
    // Group refusals per swap: from the first to the last refused attempt, the port was closed;
    // that must fit in the agent's own restart + listen time (plus the scheduling of one connect).
    for (const [i, swap] of swaps.entries()) {
      const end = swaps[i + 1]?.at ?? Infinity;
      const refused = outcomes.filter((o) => notServed(o) && o.startedAt >= swap.at && o.startedAt < end);
      if (refused.length === 0) continue;
      const window = refused.at(-1)!.startedAt - refused[0]!.startedAt;
      assert.ok(window <= swap.restartMs + swap.listenMs + 100, `refused for ${window.toFixed(1)} ms, the restart took ${(swap.restartMs + swap.listenMs).toFixed(1)} ms`);
    }
    assert.equal(await version(c), 'v4');
  });

  test('signals reach the process: docker kill -s HUP, a signal action, and docker stop (TERM)', async () => {
    const c = await start();
    await dockerCli(['kill', '-s', 'HUP', c.id]);
    await waitUntil('the server counted the forwarded HUP', 10_000, async () => (await get(c.port, '/hups')).body.trim() === '1');
    const result = await liveSync(new DockerExecTransport(docker, c.id), [], { kind: 'signal', signal: 1 });
    assert.equal(result.action, 'signal');
    await waitUntil('the server counted the HUP action', 10_000, async () => (await get(c.port, '/hups')).body.trim() === '2');
    // Without forwarding, TERM to PID 1 is ignored and docker stop ends in SIGKILL (137) after 30 s.
    await dockerCli(['stop', '-t', '30', c.id]);
    const exit = (await dockerCli(['inspect', '-f', '{{.State.ExitCode}}', c.id])).stdout.trim();
    assert.equal(exit, '0', 'the server exited on the forwarded TERM and the agent with its code');
  });

  test('orphans reparented to the agent are reaped', async () => {
    const c = await start();
    const init = await c.hostPid();
    for (let i = 0; i < 3; i++) assert.equal((await get(c.port, '/orphans')).body, 'ok\n');
    // Orphans come to PID 1 (9 of them, alive for 2 s); then none may stay as a zombie.
    await waitUntil('orphans are reparented to PID 1', 10_000, async () => (await childrenOf(init)).length > 1);
    await waitUntil('no zombie is left under PID 1', 10_000, async () => {
      const children = await childrenOf(init);
      return children.length === 1 && children.every((p) => p.state !== 'Z');
    });
  });

  test('a sync cut off halfway leaves the old binary in place and runnable', async () => {
    const c = await start();
    const big = await serverFile('v9', 16 * 1024 * 1024);
    // Send the header and half the bytes, then break the exec stream.
    const session = await new DockerExecTransport(docker, c.id).open(RECEIVE_ARGV);
    session.stdin.write(preamble());
    session.stdin.write(fileHeader(big.path, big.mode, big.size, big.sha256));
    session.stdin.write(Buffer.alloc(big.size / 2, 1));
    let out = '';
    session.stdout.on('data', (d: Buffer) => (out += d.toString()));
    await waitUntil('the agent has received bytes', 10_000, () => out.includes('"hello"'));
    session.stdin.end();
    await session.ended;
    assert.match(out, /"code":"truncated"/);
    // The receive process is killed outright mid-transfer (SIGKILL: no clean-up at all).
    const second = await new DockerExecTransport(docker, c.id).open(RECEIVE_ARGV);
    second.stdin.write(preamble());
    second.stdin.write(fileHeader(big.path, big.mode, big.size, big.sha256));
    second.stdin.write(Buffer.alloc(big.size / 4, 2));
    const receiver = async () => (await childrenOfAny(await c.hostPid())).find((p) => p.cmd.includes('receive'));
    await waitUntil('the receive process runs', 10_000, async () => !!(await receiver()));
    process.kill((await receiver())!.pid, 'SIGKILL');
    await second.ended;
    second.close();
    // A restart with no new files runs whatever /app/server is now: still v1.
    const r = await liveSync(new DockerExecTransport(docker, c.id), [], RESTART);
    assert.deepEqual(r.ports, [c.port]);
    assert.equal(await version(c), 'v1');
  });

  test('paths outside the sync targets are refused and nothing is written', async () => {
    const c = await start();
    const transport = new DockerExecTransport(docker, c.id);
    const file = await serverFile('evil');
    for (const target of ['/etc/evil', '/app/../etc/evil', '/app/etc-link/evil', 'app/server', '/application/x']) {
      await assert.rejects(liveSync(transport, [{ ...file, path: target }, file], RESTART), (e: LiveSyncError) => {
        assert.equal(e.code, 'refused-path', `${target}: ${e.message}`);
        return true;
      });
    }
    const etc = await dockerCli(['cp', `${c.id}:/etc/evil`, '-'], { reject: false });
    assert.notEqual(etc.exitCode, 0, '/etc/evil must not exist');
    assert.equal(await version(c), 'v1', 'the valid file in the refused sync was not applied either');
  });

  test('a new version that exits at once: exit code and last lines, the container stays for the next sync', async () => {
    const c = await start();
    const transport = new DockerExecTransport(docker, c.id);
    await assert.rejects(liveSync(transport, [await serverFile('crash-v2')], RESTART), (e: LiveSyncError) => {
      assert.equal(e.code, 'child-exited');
      assert.equal(e.details.exitCode, 3);
      assert.deepEqual(e.details.tail, ['starting crash-v2', 'fatal: cannot start this version']);
      return true;
    });
    const r = await liveSync(transport, [await serverFile('v3')], RESTART);
    assert.deepEqual(r.ports, [c.port]);
    assert.equal(await version(c), 'v3');
  });

  test('fallback reasons: no agent in the image, another protocol version', async () => {
    const plain = await buildImage('v1', { withAgent: false });
    cleanup.push(plain.remove);
    const c = await start(plain.ref);
    await assert.rejects(liveSync(new DockerExecTransport(docker, c.id), [await serverFile('v2')], RESTART), (e: LiveSyncError) => {
      assert.equal(e.code, 'no-agent', e.message);
      assert.match(e.message, /not built in live mode/);
      return true;
    });
    const live = await start();
    await assert.rejects(liveSync(new DockerExecTransport(docker, live.id), [await serverFile('v2')], RESTART, { protocol: 99 }), (e: LiveSyncError) => {
      assert.equal(e.code, 'protocol-mismatch', e.message);
      return true;
    });
    assert.equal(await version(live), 'v1');
  });
});

/** Every descendant of `pid` with its command line. */
async function childrenOfAny(pid: number): Promise<{ pid: number; cmd: string }[]> {
  const { readdir, readFile } = await import('node:fs/promises');
  const out: { pid: number; cmd: string }[] = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const cmd = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).split('\0').join(' ');
      if (cmd.startsWith('/.tightloop/agent receive')) out.push({ pid: Number(entry), cmd });
    } catch {
      // gone
    }
  }
  void pid;
  return out;
}
