import { main } from './main.js';
import { CliOutput } from './output.js';

// A reader that went away (`tightloop run --json | head`) is not an error worth a stack trace.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
  });
}

/**
 * Pipes are asynchronous in Node: process.exit() would drop what a slow reader has not taken
 * yet (the last events of `--json | slow-consumer`). An empty write's callback runs after every
 * earlier write of the stream was handed to the OS, in order.
 */
function flushed(stream: NodeJS.WriteStream): Promise<void> {
  if (stream.destroyed || !stream.writable) return Promise.resolve();
  return new Promise((resolve) => stream.write('', () => resolve()));
}

async function exit(code: number): Promise<never> {
  await Promise.all([flushed(process.stdout), flushed(process.stderr)]);
  process.exit(code);
}

// The only place that touches process.exit: everything else returns an exit code.
main(process.argv.slice(2)).then(
  (code) => exit(code),
  (error: unknown) => {
    new CliOutput(process.argv.includes('--json')).error(error instanceof Error ? error.message : String(error), 1);
    return exit(1);
  },
);
