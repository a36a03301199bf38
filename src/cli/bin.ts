import { main } from './main.js';
import { CliOutput } from './output.js';

// The only place that touches process.exit: everything else returns an exit code.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    new CliOutput(process.argv.includes('--json')).error(error instanceof Error ? error.message : String(error), 1);
    process.exit(1);
  },
);
