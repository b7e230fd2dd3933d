// `node bench.js [--quick]`: the benchmark is the ES module bench.mjs; a dynamic import runs it
// from here whichever module type the package declares.
import('./bench.mjs').catch((e) => {
  console.error(e);
  process.exit(1);
});
