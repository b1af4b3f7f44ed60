// Child process for the store's crash and concurrency tests: writes metric rows to a run in
// transactions of `per` rows and prints the number of each committed transaction, so the parent
// knows what must be in the store after it kills this process.
//   node writer-child.js <store> <new|runId> <per> <transactions|0 for endless> [sharedRunId]
import { TrackingStore } from '../../src/track/store.js';

const [storePath, runArg, perArg, countArg, sharedArg] = process.argv.slice(2);
// `node --test dist/test/` also runs this helper on its own, without arguments: nothing to do then
if (storePath === undefined) process.exit(0);
const store = TrackingStore.open(storePath!);
const per = Number(perArg);
const count = Number(countArg);
const runId = runArg === 'new' ? store.createRun({ name: `writer-${process.pid}`, config: { per } }) : Number(runArg);
const shared = sharedArg ? Number(sharedArg) : undefined;
process.stdout.write(`run ${runId}\n`);
for (let t = 0; count === 0 || t < count; t++) {
  const rows = Array.from({ length: per }, (_, i) => ({ scope: 'step' as const, key: 'loss', step: t * per + i, epoch: 1, value: Math.sin(t * per + i) }));
  store.flush(runId, { metrics: rows, step: t * per + per - 1, epoch: 1, system: [{ time: Date.now() / 1000, cpuPercent: 1, rssBytes: 1, heapBytes: 1 }] });
  if (shared !== undefined) store.flush(shared, { metrics: [{ scope: 'step', key: `w${process.pid}`, step: t, value: t }] });
  // every 25 transactions, also fold the WAL back into the database, so kills land there too
  if (t % 25 === 24) store.db.pragma('wal_checkpoint(TRUNCATE)');
  process.stdout.write(`${t}\n`);
}
store.finishRun(runId, 'finished');
store.close();
