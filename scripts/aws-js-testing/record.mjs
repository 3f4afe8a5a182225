// Records the event histories of the handlers in handlers.mjs, each run by
// AWS's JavaScript durable-execution testing runner, into OUTDIR as
// runner-NAME.json: the runner's own Events, member names as the API's,
// timestamps as RFC 3339 (JSON.stringify of its Dates). See README.md.
//
// With OPS_JSONL set, it also appends to that file, one line a scenario,
// {"name": "runner-NAME", "ops": [...]}: the runner's own operations (its
// state, not derived from the history), for compare.py.
//
// Usage: [OPS_JSONL=FILE] node record.mjs OUTDIR [NAME...]
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { LocalDurableTestRunner } from "@aws/durable-execution-sdk-js-testing";
import { scenarios } from "./handlers.mjs";

const [outDir, ...only] = process.argv.slice(2);
if (!outDir) {
  console.error("usage: node record.mjs OUTDIR [NAME...]");
  process.exit(2);
}
mkdirSync(outDir, { recursive: true });

await LocalDurableTestRunner.setupTestEnvironment({ skipTime: true });
let failed = 0;
for (const s of scenarios) {
  if (only.length && !only.includes(s.name)) continue;
  const runner = new LocalDurableTestRunner({ handlerFunction: s.handler });
  for (const [name, fn] of Object.entries(s.register ?? {})) {
    runner.registerDurableFunction(name, fn);
  }
  let timer;
  try {
    const running = runner.run({ payload: s.input });
    // A scenario that never ends (a callback its drive failed to answer)
    // is reported as failed instead of holding the recording.
    const limit = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error("did not end within 60 s")), 60_000);
    });
    if (s.drive) await Promise.race([s.drive(runner), limit]);
    const execution = await Promise.race([running, limit]);
    const events = execution.getHistoryEvents();
    const file = join(outDir, `runner-${s.name}.json`);
    writeFileSync(file, JSON.stringify(events, null, 2) + "\n");
    if (process.env.OPS_JSONL) {
      const ops = execution.getOperations().map((op) => op.getOperationData());
      appendFileSync(process.env.OPS_JSONL, JSON.stringify({ name: `runner-${s.name}`, ops }) + "\n");
    }
    console.log(`${s.name}: ${execution.getStatus()}, ${events.length} events`);
  } catch (err) {
    failed++;
    console.error(`${s.name}: ${err?.stack ?? err}`);
  } finally {
    clearTimeout(timer);
  }
}
await LocalDurableTestRunner.teardownTestEnvironment();
process.exit(failed ? 1 : 0);
