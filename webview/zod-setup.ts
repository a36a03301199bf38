import * as z from 'zod/mini';

// zod compiles fast parsers with `new Function` when it can; under the panel's CSP (no
// 'unsafe-eval') the probe itself would be reported as a violation. This module is imported
// first, before any schema is built.
z.config({ jitless: true });
