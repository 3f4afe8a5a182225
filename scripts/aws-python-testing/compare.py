"""Compare the operations etl folded from history with the runner's own.

Usage: python3 compare.py OPS_JSONL ROWS_JSONL

OPS_JSONL is what serve.py wrote (a line an execution: its "arn" and the
runner's "ops", timestamps in epoch milliseconds), or what
../aws-js-testing/record.mjs wrote (its "name" instead, the ARN's
execution name, and RFC 3339 timestamps); ROWS_JSONL holds one operations row per
line as JSON with the table's column names (psql: SELECT row_to_json(o)
FROM durable_archive.operations o). Prints how many operations were
compared and, per column and operation shape, how many differ, with one
example. What history cannot tell (replay_children; attempt before any
RetryDetails) and what changed between the dump and the run (callbacks
timing out) show up too: read the differences, do not count them.
"""

import collections
import datetime
import json
import sys


def millis(value):
    if value is None or isinstance(value, (int, float)):
        return value
    text = value.replace(" ", "T")
    if text.endswith("+00"):
        text += ":00"
    return round(datetime.datetime.fromisoformat(text).timestamp() * 1000)


def main() -> None:
    ours = collections.defaultdict(dict)
    for line in open(sys.argv[2]):
        row = json.loads(line)
        ours[row["execution_arn"]][row["operation_id"]] = row
    diffs, examples, compared = collections.Counter(), {}, 0
    for line in open(sys.argv[1]):
        execution = json.loads(line)
        arn = execution.get("arn") or next(
            (a for a in ours if f"/durable-execution/{execution['name']}/" in a), execution["name"])
        mine = ours[arn]
        for op in execution["ops"]:
            row = mine.get(op["Id"])
            shape = f"[{op.get('Type')}/{op.get('SubType')}/{op.get('Status')}]"
            if row is None:
                diffs["missing " + shape] += 1
                continue
            compared += 1
            details = next((v for k, v in op.items() if k.endswith("Details")), {}) or {}
            error = details.get("Error") or {}
            for column, theirs, got in [
                ("type", op.get("Type"), row["type"]), ("status", op.get("Status"), row["status"]),
                ("name", op.get("Name"), row["name"]), ("sub_type", op.get("SubType"), row["sub_type"]),
                ("parent_id", op.get("ParentId"), row["parent_id"]),
                ("start_time", millis(op.get("StartTimestamp")), millis(row["start_time"])),
                ("end_time", millis(op.get("EndTimestamp")), millis(row["end_time"])),
                ("input_payload", details.get("InputPayload"), row["input_payload"]),
                ("result", details.get("Result"), row["result"]),
                ("error_type", error.get("ErrorType"), row["error_type"]),
                ("error_message", error.get("ErrorMessage"), row["error_message"]),
                ("attempt", details.get("Attempt"), row["attempt"]),
                ("next_attempt_time", millis(details.get("NextAttemptTimestamp")), millis(row["next_attempt_time"])),
                ("scheduled_end_time", millis(details.get("ScheduledEndTimestamp")), millis(row["scheduled_end_time"])),
                ("callback_id", details.get("CallbackId"), row["callback_id"]),
                ("replay_children", details.get("ReplayChildren"), row["replay_children"]),
            ]:
                if theirs != got:
                    key = f"{column} {shape}"
                    diffs[key] += 1
                    examples.setdefault(key, (arn.rsplit("/", 2)[-2][:24], op["Id"][:12], str(theirs)[:80], str(got)[:80]))
    print("compared", compared, "operations")
    for key, n in sorted(diffs.items()):
        print(n, key, "e.g. (execution, operation, runner, etl):", examples.get(key, ""))


if __name__ == "__main__":
    main()
