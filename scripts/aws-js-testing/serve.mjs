// Serves recorded histories (record.mjs's runner-NAME.json, each the
// runner's own Events) as executions of one function over the durable
// execution API's three token-free operations, the events as recorded:
// members the Go SDK's model lacks (the runner's CallbackStartedDetails
// Input) reach the client as they would from the service. Timestamps go
// out as epoch seconds, as the service writes them; history pages hold
// MaxItems events (default 100), markers are offsets. See README.md.
//
// Usage: node serve.mjs PORT DIR [FUNCTION]
import { createServer } from "node:http";
import { readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";

const [port, dir, fn = "runner"] = process.argv.slice(2);
if (!port || !dir) {
  console.error("usage: node serve.mjs PORT DIR [FUNCTION]");
  process.exit(2);
}
const fnArn = `arn:aws:lambda:us-east-1:123456789012:function:${fn}`;
const iso = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?Z$/;

// epochs turns the timestamp members (named *Timestamp, as the API's
// are) into epoch seconds; a payload or message that looks like a date
// stays a string.
function epochs(v) {
  if (Array.isArray(v)) return v.map(epochs);
  if (v && typeof v === "object") {
    return Object.fromEntries(
      Object.entries(v).map(([k, x]) => [k, k.endsWith("Timestamp") && typeof x === "string" && iso.test(x) ? Date.parse(x) / 1000 : epochs(x)]),
    );
  }
  return v;
}

const executions = new Map();
for (const [i, file] of readdirSync(dir).filter((f) => f.endsWith(".json")).sort().entries()) {
  const events = epochs(JSON.parse(readFileSync(join(dir, file), "utf8")));
  const name = file.replace(/\.json$/, "");
  const arn = `${fnArn}:$LATEST/durable-execution/${name}/${String(i).padStart(8, "0")}`;
  const started = events.find((e) => e.EventType === "ExecutionStarted");
  const end = events.findLast((e) => /^Execution(Succeeded|Failed|TimedOut|Stopped)$/.test(e.EventType));
  const status = { ExecutionSucceeded: "SUCCEEDED", ExecutionFailed: "FAILED", ExecutionTimedOut: "TIMED_OUT", ExecutionStopped: "STOPPED" }[end?.EventType] ?? "RUNNING";
  const details = end && Object.entries(end).find(([k]) => k.endsWith("Details"))?.[1];
  executions.set(arn, {
    summary: {
      DurableExecutionArn: arn,
      DurableExecutionName: name,
      FunctionArn: `${fnArn}:$LATEST`,
      Status: status,
      StartTimestamp: started.EventTimestamp,
      ...(end ? { EndTimestamp: end.EventTimestamp } : {}),
    },
    input: started.ExecutionStartedDetails?.Input?.Payload,
    result: details?.Result?.Payload,
    error: details?.Error?.Payload,
    events,
  });
}

function send(res, status, body, errorType) {
  const headers = { "content-type": "application/json" };
  if (errorType) headers["x-amzn-errortype"] = errorType;
  res.writeHead(status, headers);
  res.end(JSON.stringify(body));
}

function page(items, q) {
  const max = Number(q.get("MaxItems") || 100) || 100;
  const from = Number(q.get("Marker") || 0);
  const slice = items.slice(from, from + max);
  return [slice, from + max < items.length ? String(from + max) : undefined];
}

createServer((req, res) => {
  const u = new URL(req.url, "http://x");
  const parts = u.pathname.split("/").map(decodeURIComponent);
  const q = u.searchParams;
  if (parts[1] === "2025-12-01" && parts[2] === "functions" && parts[4] === "durable-executions") {
    if (parts[3] !== fn && parts[3] !== fnArn && !parts[3].startsWith(`${fn}:`) && !parts[3].startsWith(`${fnArn}:`)) {
      return send(res, 404, { Message: `Function not found: ${parts[3]}` }, "ResourceNotFoundException");
    }
    let list = [...executions.values()].map((e) => e.summary);
    const statuses = q.getAll("Statuses");
    if (statuses.length) list = list.filter((s) => statuses.includes(s.Status));
    const [items, next] = page(list, q);
    return send(res, 200, { DurableExecutions: items, ...(next ? { NextMarker: next } : {}) });
  }
  if (parts[1] === "2025-12-01" && parts[2] === "durable-executions") {
    const arn = parts.slice(3, parts.at(-1) === "history" ? -1 : undefined).join("/");
    const e = executions.get(arn);
    if (!e) return send(res, 404, { Message: `Execution not found: ${arn}` }, "ResourceNotFoundException");
    if (parts.at(-1) === "history") {
      const events = q.get("ReverseOrder") === "true" ? [...e.events].reverse() : e.events;
      const [items, next] = page(events, q);
      return send(res, 200, { Events: items, ...(next ? { NextMarker: next } : {}) });
    }
    const s = e.summary;
    return send(res, 200, {
      DurableExecutionArn: s.DurableExecutionArn,
      DurableExecutionName: s.DurableExecutionName,
      FunctionArn: s.FunctionArn,
      Status: s.Status,
      StartTimestamp: s.StartTimestamp,
      ...(s.EndTimestamp ? { EndTimestamp: s.EndTimestamp } : {}),
      ...(e.input !== undefined ? { InputPayload: e.input } : {}),
      ...(e.result !== undefined ? { Result: e.result } : {}),
      ...(e.error !== undefined ? { Error: e.error } : {}),
      Version: "$LATEST",
    });
  }
  send(res, 404, { Message: `not served here: ${u.pathname}` }, "ResourceNotFoundException");
}).listen(Number(port), "127.0.0.1", () => console.log(`serving ${executions.size} executions of ${fn} on ${port}`));
