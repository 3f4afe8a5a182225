// The durable functions record.mjs runs: shapes AWS's recorded examples
// (transform/testdata/histories) lack, callbacks and chained invokes above
// all, written with AWS's durable-execution SDK for JavaScript as its own
// examples are. Each scenario: a name, a handler, its input, the durable
// functions it invokes (register) and what the outside world does while
// it runs (drive: answering callbacks).
import { withDurableExecution } from "@aws/durable-execution-sdk-js";
import { WaitingOperationStatus } from "@aws/durable-execution-sdk-js-testing";

// answer waits for the operation named name to start, then calls act on it.
async function answer(runner, name, act) {
  const op = runner.getOperation(name);
  await op.waitForData(WaitingOperationStatus.STARTED);
  await act(op);
}

const child = withDurableExecution(async (event, ctx) => {
  const doubled = await ctx.step("double", async () => (event?.n ?? 0) * 2);
  await ctx.wait({ seconds: 2 });
  return { doubled, note: "from the invoked function" };
});

const failingChild = withDurableExecution(async (event, ctx) => {
  await ctx.step("prepare", async () => "ready");
  throw new Error("the invoked function gave up");
});

export const scenarios = [
  {
    name: "callback-success",
    input: { order: "o-1" },
    handler: withDurableExecution(async (event, ctx) => {
      const [promise, callbackId] = await ctx.createCallback("approval", {
        timeout: { minutes: 5 },
        heartbeatTimeout: { minutes: 1 },
      });
      await ctx.step("notify", async () => ({ sent: true, callbackId: typeof callbackId }));
      const verdict = await promise;
      return { order: event.order, verdict };
    }),
    drive: (runner) =>
      answer(runner, "approval", (op) => op.sendCallbackSuccess(JSON.stringify({ approved: true, by: "zoë" }))),
  },
  {
    name: "callback-empty-success",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      const [promise] = await ctx.createCallback("ack");
      const got = await promise;
      return { got, length: got?.length ?? null };
    }),
    drive: (runner) => answer(runner, "ack", (op) => op.sendCallbackSuccess("")),
  },
  {
    name: "callback-failure",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      try {
        return await ctx.waitForCallback(
          "external-api",
          async () => {
            // The external system is told here; the drive answers.
          },
          { timeout: { minutes: 10 } },
        );
      } catch (err) {
        return { failed: true, message: err?.message ?? String(err) };
      }
    }),
    drive: (runner) =>
      answer(runner, "external-api", async () => {
        // waitForCallback is a context whose children are the callback,
        // then the submitter's step: answer the callback.
        const cb = runner.getOperationByIndex(1);
        await cb.waitForData(WaitingOperationStatus.STARTED);
        await cb.sendCallbackFailure({
          ErrorMessage: "External API failure: ☃ \"quoted\"",
          ErrorType: "APIException",
          ErrorData: JSON.stringify({ status: 503, retryable: true }),
          StackTrace: ["at remote (api.js:1:1)", ""],
        });
      }),
  },
  {
    name: "callback-timeout",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      const [promise] = await ctx.createCallback("never-answered", { timeout: { seconds: 1 } });
      try {
        await promise;
        return "answered";
      } catch (err) {
        return { timedOut: true, message: err?.message ?? String(err) };
      }
    }),
  },
  {
    name: "callback-heartbeat-timeout",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      const [promise] = await ctx.createCallback("long-task", {
        timeout: { minutes: 10 },
        heartbeatTimeout: { seconds: 1 },
      });
      return await promise;
    }),
    drive: (runner) => answer(runner, "long-task", (op) => op.sendCallbackHeartbeat()),
  },
  {
    name: "invoke-success",
    input: { n: 21 },
    register: { "doubler": child },
    handler: withDurableExecution(async (event, ctx) => {
      const got = await ctx.invoke("call-doubler", "doubler", { n: event.n });
      return { got };
    }),
  },
  {
    name: "invoke-failure",
    input: {},
    register: { "gives-up": failingChild },
    handler: withDurableExecution(async (event, ctx) => {
      try {
        await ctx.invoke("call-gives-up", "gives-up", { attempt: 1 });
        return "unexpected";
      } catch (err) {
        await ctx.step("compensate", async () => ({ undone: true }));
        throw new Error(`invoke failed: ${err?.message ?? err}`);
      }
    }),
  },
  {
    name: "wait-for-condition-state",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      const final = await ctx.waitForCondition(
        "poll-job",
        async (state) => ({ polls: state.polls + 1, done: state.polls + 1 >= 3 }),
        {
          initialState: { polls: 0, done: false },
          waitStrategy: (state) =>
            state.done ? { shouldContinue: false } : { shouldContinue: true, delay: { seconds: 3 } },
        },
      );
      return final;
    }),
  },
  {
    name: "parallel-callbacks-min-successful",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      const result = await ctx.parallel(
        "vote",
        [
          { name: "fast", func: async (c) => c.step("fast-step", async () => "yes") },
          {
            name: "callback",
            func: async (c) => {
              const [p] = await c.createCallback("voter");
              return p;
            },
          },
          { name: "failing", func: async (c) => c.step("bad-step", async () => { throw new Error("no vote"); }, { retryStrategy: () => ({ shouldRetry: false }) }) },
        ],
        { completionConfig: { minSuccessful: 2 } },
      );
      return { successes: result.successCount, failures: result.failureCount };
    }),
    drive: (runner) => answer(runner, "voter", (op) => op.sendCallbackSuccess("\"yes\"")),
  },
  {
    name: "steps-odd-payloads",
    input: { unicode: "naïve ☕ \u0000 end", nested: { a: [1, null, ""] } },
    handler: withDurableExecution(async (event, ctx) => {
      const empty = await ctx.step("empty-string", async () => "");
      const none = await ctx.step("undefined-result", async () => undefined);
      const nul = await ctx.step("null-result", async () => null);
      const big = await ctx.step("big-result", async () => "x".repeat(4 * 1024));
      const echo = await ctx.step("echo-input", async () => event);
      return { empty, none: none ?? "absent", nul, bigLength: big.length, echo };
    }),
  },
  {
    name: "retries-exhausted-error-data",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      let tries = 0;
      return await ctx.step(
        "always-fails",
        async () => {
          tries++;
          const err = new Error(`attempt ${tries} failed`);
          err.name = "FlakyDependencyError";
          throw err;
        },
        {
          retryStrategy: (error, attempt) =>
            attempt < 3 ? { shouldRetry: true, delay: { seconds: attempt } } : { shouldRetry: false },
        },
      );
    }),
  },
  {
    // The race's context starts after its branches (their events come
    // first); the map tolerates one failed item.
    name: "race-then-map",
    input: {},
    handler: withDurableExecution(async (event, ctx) => {
      const winner = await ctx.promise.race("race", [
        ctx.wait("slow-wait", { seconds: 30 }),
        ctx.step("quick", async () => "quick"),
      ]);
      const squares = await ctx.map(
        "items",
        [1, 2, 3],
        async (c, item) =>
          c.step(`square-${item}`, async () => {
            if (item === 2) throw new Error("two is not welcome");
            return item * item;
          }, { retryStrategy: () => ({ shouldRetry: false }) }),
        { completionConfig: { toleratedFailureCount: 1 } },
      );
      return { winner, succeeded: squares.successCount, failed: squares.failureCount };
    }),
  },
];
