import { main } from './main.js';

// The only place that touches process.exit: everything else returns an exit code.
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`tightloop: ${error instanceof Error ? error.message : String(error)}\n`);
    process.exit(1);
  },
);
