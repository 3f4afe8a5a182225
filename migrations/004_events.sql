-- The events table: one row per history event (GetDurableExecutionHistory),
-- immutable, keyed by (execution_arn, event_id). And on executions, how much
-- of the history was read: event_count and last_event_id.
CREATE TABLE {{.schema}}.events (
    execution_arn text NOT NULL,
    event_id integer NOT NULL,
    event_type text NOT NULL,
    event_time timestamptz,
    operation_id text,
    parent_id text,
    name text,
    sub_type text,
    detail_kind text,
    input_payload text,
    result text,
    error_type text,
    error_message text,
    error_data text,
    error_stack_trace text[],
    payload_truncated boolean,
    attempt integer,
    next_attempt_delay_seconds integer,
    duration_seconds integer,
    scheduled_end_time timestamptz,
    callback_id text,
    timeout_seconds integer,
    heartbeat_timeout_seconds integer,
    execution_timeout_seconds integer,
    invoked_function_name text,
    invoked_execution_arn text,
    executed_version text,
    tenant_id text,
    request_id text,
    invocation_start_time timestamptz,
    invocation_end_time timestamptz,
    overflow_json text,
    run_id text NOT NULL,
    extracted_at timestamptz NOT NULL,
    PRIMARY KEY (execution_arn, event_id)
);

ALTER TABLE {{.schema}}.executions
    ADD COLUMN event_count bigint,
    ADD COLUMN last_event_id integer;

CREATE INDEX events_operation_idx ON {{.schema}}.events (execution_arn, operation_id);
CREATE INDEX events_invocations_idx ON {{.schema}}.events (execution_arn) WHERE event_type = 'InvocationCompleted';

-- Every attempt of every step, with its outcome: history keeps each
-- attempt's error, which the operations table (one row per step) cannot.
CREATE VIEW {{.schema}}.step_attempts AS
SELECT ev.execution_arn, e.function_name, ev.operation_id, ev.name, ev.event_id, ev.event_type,
       ev.event_time, ev.attempt, ev.next_attempt_delay_seconds,
       ev.event_type = 'StepFailed' AND ev.next_attempt_delay_seconds IS NOT NULL AS retried,
       ev.error_type, ev.error_message, ev.result
FROM {{.schema}}.events ev
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE ev.event_type IN ('StepSucceeded', 'StepFailed');

-- The Lambda invocations that ran each execution.
CREATE VIEW {{.schema}}.invocations AS
SELECT ev.execution_arn, e.function_name, ev.event_id, ev.request_id,
       ev.invocation_start_time, ev.invocation_end_time,
       ev.invocation_end_time - ev.invocation_start_time AS duration,
       ev.error_type, ev.error_message
FROM {{.schema}}.events ev
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE ev.event_type = 'InvocationCompleted';

-- Invocations per execution.
CREATE VIEW {{.schema}}.invocations_per_execution AS
SELECT execution_arn, function_name, count(*) AS invocations,
       count(*) FILTER (WHERE error_type IS NOT NULL) AS failed_invocations,
       sum(duration) AS total_duration
FROM {{.schema}}.invocations
GROUP BY execution_arn, function_name;

---- create above / drop below ----

DROP VIEW {{.schema}}.invocations_per_execution;
DROP VIEW {{.schema}}.invocations;
DROP VIEW {{.schema}}.step_attempts;
ALTER TABLE {{.schema}}.executions DROP COLUMN last_event_id, DROP COLUMN event_count;
DROP TABLE {{.schema}}.events;
