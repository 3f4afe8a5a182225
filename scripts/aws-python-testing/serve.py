"""Serve real durable executions over the durable-execution API.

Runs durable functions (AWS's Python SDK examples, plus a few of our own in
odd_handlers.py) in AWS's Python testing runner, then serves every execution
through the runner's web server (GetDurableExecution, the history, the
listing by function), and writes the runner's own operations of each
execution to OPS_JSONL for compare.py.

Usage: python3 serve.py PORT OPS_JSONL [CONFORMANCE_DIR]   (see README.md)

With CONFORMANCE_DIR (the SDK's packages/aws-durable-execution-sdk-python-
conformance-tests), it runs every handler under its handlers/ instead: about
130 executions of every operation type, some left waiting for callbacks.
"""

import importlib
import json
import logging
import os
import sys
from concurrent.futures import ThreadPoolExecutor

from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
from aws_durable_execution_sdk_python_testing.web.server import WebServer, WebServiceConfig

import odd_handlers

EXAMPLES = [
    "comprehensive_operations.comprehensive_operations",
    "comprehensive_operations.many_operations",
    "step.steps_with_retry",
    "step.step_with_retry",
    "step.step_with_exponential_backoff",
    "step.step_no_name",
    "map.map_operations",
    "map.map_with_failure_tolerance",
    "map.map_with_min_successful",
    "map.map_with_large_scale",
    "parallel.parallel",
    "parallel.parallel_with_wait",
    "parallel.parallel_first_successful",
    "run_in_child_context.run_in_child_context",
    "run_in_child_context.run_in_child_context_step_failure",
    "run_in_child_context.run_in_child_context_large_data",
    "wait.multiple_wait",
    "wait_for_condition.wait_for_condition",
    "handler_error.handler_error",
    "error_handling.catch_typed_step_error",
    "none_results.none_results",
    "callback.callback_simple",  # stays RUNNING until its callback times out
    "wait_for_callback.wait_for_callback_submitter_failure",
]


# Conformance handlers that end the process (they simulate a crash) or
# need another function (chained invokes) or a plugin.
SKIP = {"child_interrupted", "step_at_most_once_with_retry", "step_at_most_once_no_retry"}
SKIP_DIRS = {"invoke", "plugin"}


def conformance(root: str) -> list:
    sys.path.insert(0, root)
    names = []
    for d in sorted(os.listdir(os.path.join(root, "handlers"))):
        if d in SKIP_DIRS or d.startswith("_"):
            continue
        for f in sorted(os.listdir(os.path.join(root, "handlers", d))):
            if f.endswith(".py") and not f.startswith("_") and f[:-3] not in SKIP:
                names.append(f"handlers.{d}.{f[:-3]}")
    return [(m, importlib.import_module(m).handler) for m in names]


def main() -> None:
    port, ops_path = int(sys.argv[1]), sys.argv[2]
    store = InMemoryExecutionStore()
    if len(sys.argv) > 3:
        functions, event, timeout = conformance(sys.argv[3]), json.dumps(3), 8
    else:
        functions = [(m, importlib.import_module(m).handler) for m in EXAMPLES]
        functions += [("odd_handlers.many", odd_handlers.many), ("odd_handlers.retried", odd_handlers.retried), ("odd_handlers.exhausted", odd_handlers.exhausted)]
        event, timeout = "{}", 30
    runners = []

    def run(i: int) -> None:
        name, handler = functions[i]
        r = DurableFunctionTestRunner(handler=handler, store=store, poll_interval=0.05)
        runners.append(r)
        arn = r.run_async(input=event, function_name="orders" if i % 2 == 0 else "billing",
                          execution_name=name.split(".")[-1].replace("_", "-")[:60])
        try:
            print(name, r.wait_for_result(arn, timeout=timeout).status, file=sys.stderr, flush=True)
        except TimeoutError:
            print(name, "still running", file=sys.stderr, flush=True)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(run, range(len(functions))))
    runner = runners[0]
    with open(ops_path, "w") as f:
        for ex in store.list_all():
            f.write(json.dumps({"arn": ex.durable_execution_arn,
                                "ops": [op.to_json_dict() for op in ex.operations]}, default=str) + "\n")
    server = WebServer(config=WebServiceConfig(host="127.0.0.1", port=port, log_level=logging.WARNING),
                       executor=runner._executor)
    print("serving on", port, file=sys.stderr, flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
