// Entry of a one-shot trial process: runs `nabla <args>` like bin/nabla.js, but dies with its
// parent (watch-parent.ts, imported before the CLI loads).

import './watch-parent.js';

const { main } = await import('../cli/main.js');
await main(process.argv.slice(2));
