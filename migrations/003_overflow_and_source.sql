-- The contract's additive columns. source says how a row was obtained:
-- every row written before this migration came from GetDurableExecutionState.
-- overflow_json holds what the typed columns cannot (an Error object with no
-- members, a second details object's Result or Error, a missing Id); it is
-- null in the normal case. The executions columns from function_arn on come
-- from GetDurableExecution and are null for rows of source 'state'.
ALTER TABLE {{.schema}}.operations
    ADD COLUMN overflow_json text,
    ADD COLUMN source text NOT NULL DEFAULT 'state';
ALTER TABLE {{.schema}}.operations ALTER COLUMN source DROP DEFAULT;

ALTER TABLE {{.schema}}.executions
    ADD COLUMN source text NOT NULL DEFAULT 'state',
    ADD COLUMN function_arn text,
    ADD COLUMN version text,
    ADD COLUMN result text,
    ADD COLUMN error_type text,
    ADD COLUMN error_message text,
    ADD COLUMN error_data text,
    ADD COLUMN error_stack_trace text[],
    ADD COLUMN overflow_json text,
    ADD COLUMN retention_period_days integer,
    ADD COLUMN execution_timeout_seconds integer,
    ADD COLUMN kms_key_arn text,
    ADD COLUMN trace_id text;
ALTER TABLE {{.schema}}.executions ALTER COLUMN source DROP DEFAULT;

---- create above / drop below ----

ALTER TABLE {{.schema}}.executions
    DROP COLUMN trace_id, DROP COLUMN kms_key_arn, DROP COLUMN execution_timeout_seconds,
    DROP COLUMN retention_period_days, DROP COLUMN overflow_json, DROP COLUMN error_stack_trace,
    DROP COLUMN error_data, DROP COLUMN error_message, DROP COLUMN error_type, DROP COLUMN result,
    DROP COLUMN version, DROP COLUMN function_arn, DROP COLUMN source;
ALTER TABLE {{.schema}}.operations DROP COLUMN source, DROP COLUMN overflow_json;
