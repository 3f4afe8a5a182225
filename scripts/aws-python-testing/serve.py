"""Serve real durable executions over the durable-execution API.

Runs durable functions (AWS's Python SDK examples, plus a few of our own in
odd_handlers.py) in AWS's Python testing runner, then serves every execution
through the runner's web server (GetDurableExecution, the history, the
listing by function), and writes the runner's own operations of each
execution to OPS_JSONL for compare.py.

Usage: python3 serve.py PORT OPS_JSONL [CONFORMANCE_DIR [REQUIREMENTS_DIR]]
(see README.md)

With CONFORMANCE_DIR (the SDK's packages/aws-durable-execution-sdk-python-
conformance-tests), it runs every handler under its handlers/ instead: about
130 executions of every operation type. With REQUIREMENTS_DIR too (the
test-requirements/ of github.com/aws/aws-durable-execution-conformance-tests,
which the handlers implement), each handler gets its requirement's Input
(variables generated as the requirement says) and its callbacks the
requirement's answers (success, failure, heartbeat); without it every handler
gets the input 3, and callbacks are left unanswered.
"""

import importlib
import json
import logging
import os
import random
import re
import string
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from aws_durable_execution_sdk_python.lambda_service import ErrorObject
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


def requirement(requirements: str, module: str) -> dict:
    """The requirement a conformance handler implements (its first line
    names it: "# 4-1: ..."), its variables substituted; {} if none."""
    mod = importlib.import_module(module)
    with open(mod.__file__) as f:
        m = re.match(r"#\s*(\d+-\d+)\b", f.readline())
    path = m and os.path.join(requirements, module.split(".")[1], m.group(1) + ".yaml")
    if not path or not os.path.exists(path):
        return {}
    import yaml  # only this mode needs PyYAML

    with open(path) as f:
        req = yaml.safe_load(f)
    gen = lambda mo: "".join(random.choices(string.ascii_letters + string.digits, k=int(mo.group(1))))
    values = {k: re.sub(r"\$\{GEN_STR:(\d+)\}", gen, str(v)) for k, v in (req.get("Variables") or {}).items()}

    def subst(v):
        if isinstance(v, str):
            whole = re.fullmatch(r"\$\{(\w+)\}", v)
            return values.get(whole.group(1), v) if whole else re.sub(r"\$\{(\w+)\}", lambda mo: values.get(mo.group(1), mo.group(0)), v)
        if isinstance(v, list):
            return [subst(x) for x in v]
        if isinstance(v, dict):
            return {k: subst(x) for k, x in v.items()}
        return v

    return {"Input": subst(req.get("Input")), "CallbackActions": subst(req.get("CallbackActions") or [])}


def answer(r: DurableFunctionTestRunner, arn: str, actions: list, timeout: int) -> None:
    """Answers the execution's callbacks as its requirement says."""
    answered = set()
    for a in actions:
        name, deadline = a.get("CallbackName"), time.time() + timeout
        # The runner's lookup by no name can return a callback already
        # answered (it compares event ids of different events): wait for
        # another.
        while (cid := r.wait_for_callback(arn, name=None if name == "*" else name, timeout=timeout)) in answered:
            if time.time() > deadline:
                raise TimeoutError(f"no callback but those answered: {sorted(answered)}")
            time.sleep(0.05)
        time.sleep(float(a.get("Delay") or 0))
        op, payload = a.get("Operation"), a.get("Payload")
        if op != "heartbeat":  # a heartbeat leaves the callback open
            answered.add(cid)
        if op == "success":
            r.send_callback_success(cid, None if payload is None else json.dumps(payload).encode())
        elif op == "failure":
            r.send_callback_failure(cid, ErrorObject.from_dict(payload or {}))
        elif op == "heartbeat":
            r.send_callback_heartbeat(cid)


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
        req = requirement(sys.argv[4], name) if len(sys.argv) > 4 else {}
        r = DurableFunctionTestRunner(handler=handler, store=store, poll_interval=0.05)
        runners.append(r)
        arn = r.run_async(input=json.dumps(req["Input"]) if req else event,
                          function_name="orders" if i % 2 == 0 else "billing",
                          execution_name=name.split(".")[-1].replace("_", "-")[:60])
        try:
            answer(r, arn, req.get("CallbackActions", []), timeout)
        except Exception as e:  # the execution is served as it stands
            print(name, "callback not answered:", e, file=sys.stderr, flush=True)
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
