import { createReadStream } from 'node:fs';
import type tar from 'tar-stream';

/**
 * Adds one tar entry to `pack`; with `file`, its bytes are streamed from disk (never buffered).
 * tar-stream is built on streamx: a file is fed by plain pipe(), which both stream kinds speak.
 */
export function addTarEntry(pack: tar.Pack, header: Partial<tar.Header> & { name: string }, file: string | undefined, signal: AbortSignal): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const sink = pack.entry(header, (error) => (error ? reject(error) : resolve()));
    if (!file) return;
    // The pack destroyed mid-entry (an upload cut by the registry) errors the entry: without a
    // listener here, pipe() would rethrow that as an uncaught exception.
    (sink as unknown as NodeJS.EventEmitter).on('error', reject);
    const source = createReadStream(file, { signal });
    source.on('error', (error) => {
      sink.destroy(error);
      reject(error);
    });
    source.pipe(sink as unknown as NodeJS.WritableStream);
  });
}
