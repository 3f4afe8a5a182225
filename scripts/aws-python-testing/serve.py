"""Serve real durable executions over the durable-execution API.

Runs durable functions (AWS's Python SDK examples, plus a few of our own in
handlers.py) in AWS's Python testing runner, then serves every execution
through the runner's web server (GetDurableExecution, the history, the
listing by function), and writes the runner's own operations of each
execution to OPS_JSONL for compare.py.

Usage: python3 serve.py PORT OPS_JSONL   (see README.md for PYTHONPATH)
"""

import importlib
import json
import logging
import sys

from aws_durable_execution_sdk_python_testing.runner import DurableFunctionTestRunner
from aws_durable_execution_sdk_python_testing.stores.memory import InMemoryExecutionStore
from aws_durable_execution_sdk_python_testing.web.server import WebServer, WebServiceConfig

import handlers

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


def main() -> None:
    port, ops_path = int(sys.argv[1]), sys.argv[2]
    store = InMemoryExecutionStore()
    functions = [(m, importlib.import_module(m).handler) for m in EXAMPLES]
    functions += [("handlers.many", handlers.many), ("handlers.retried", handlers.retried), ("handlers.exhausted", handlers.exhausted)]
    runner = None
    for i, (name, handler) in enumerate(functions):
        r = DurableFunctionTestRunner(handler=handler, store=store, poll_interval=0.05)
        runner = runner or r
        arn = r.run_async(input="{}", function_name="orders" if i % 2 == 0 else "billing",
                          execution_name=name.split(".")[-1].replace("_", "-"))
        try:
            print(name, r.wait_for_result(arn, timeout=30).status, file=sys.stderr)
        except TimeoutError:
            print(name, "still running", file=sys.stderr)
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
