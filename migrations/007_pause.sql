-- Pausing and resuming durable executions (Lambda, November 2026): the
-- events ExecutionPaused and ExecutionResumed, and GetDurableExecution's
-- PauseDetails and ExpectedExecutionTimeoutTimestamp.
ALTER TABLE {{.schema}}.events
    ADD COLUMN reason text,
    ADD COLUMN request_time timestamptz,
    ADD COLUMN execution_timeout_paused boolean;
ALTER TABLE {{.schema}}.executions
    ADD COLUMN expected_execution_timeout_time timestamptz,
    ADD COLUMN pause_request_time timestamptz,
    ADD COLUMN pause_execution_timeout_paused boolean,
    ADD COLUMN pause_reason text;

---- create above / drop below ----

ALTER TABLE {{.schema}}.executions
    DROP COLUMN pause_reason,
    DROP COLUMN pause_execution_timeout_paused,
    DROP COLUMN pause_request_time,
    DROP COLUMN expected_execution_timeout_time;
ALTER TABLE {{.schema}}.events
    DROP COLUMN execution_timeout_paused,
    DROP COLUMN request_time,
    DROP COLUMN reason;
