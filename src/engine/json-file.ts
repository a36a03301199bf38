import { readFileSync } from 'node:fs';
import { StageError } from './stages/stage.js';

/**
 * A JSON file another tool owns (the Docker CLI's config.json, a docker context's meta.json):
 * undefined when it cannot be read (usually: it does not exist), and a StageError naming the file
 * when it is there but not JSON, so a broken file is reported instead of silently ignored.
 * Synchronous: these files are small and read once per endpoint or credential lookup.
 */
export function readJsonFile<T>(file: string): T | undefined {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
  try {
    return JSON.parse(text) as T;
  } catch (error) {
    throw new StageError(`${file} is not valid JSON: ${(error as Error).message}`);
  }
}
