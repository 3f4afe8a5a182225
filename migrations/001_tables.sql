-- The archive's tables, as schema/ defines them (a test compares the two).
CREATE TABLE {{.schema}}.operations (
    execution_arn text NOT NULL,
    operation_id text NOT NULL,
    seq bigint NOT NULL,
    parent_id text,
    name text,
    type text NOT NULL,
    sub_type text,
    status text NOT NULL,
    start_time timestamptz,
    end_time timestamptz,
    detail_kind text,
    input_payload text,
    replay_children boolean,
    attempt integer,
    next_attempt_time timestamptz,
    scheduled_end_time timestamptz,
    callback_id text,
    result text,
    error_type text,
    error_message text,
    error_data text,
    error_stack_trace text[],
    run_id text NOT NULL,
    extracted_at timestamptz NOT NULL,
    PRIMARY KEY (execution_arn, operation_id)
);

CREATE TABLE {{.schema}}.executions (
    execution_arn text NOT NULL,
    region text,
    account_id text,
    function_name text,
    function_qualifier text,
    execution_name text,
    execution_id text,
    status text,
    start_time timestamptz,
    end_time timestamptz,
    input_payload text,
    operation_count bigint NOT NULL,
    failed_operation_count bigint NOT NULL,
    content_hash text NOT NULL,
    run_id text NOT NULL,
    extracted_at timestamptz NOT NULL,
    PRIMARY KEY (execution_arn)
);

-- One row per run: written when it starts and when it ends.
CREATE TABLE {{.schema}}.runs (
    run_id text PRIMARY KEY,
    started_at timestamptz NOT NULL,
    finished_at timestamptz,
    status text NOT NULL,
    executions_ok bigint NOT NULL DEFAULT 0,
    executions_failed bigint NOT NULL DEFAULT 0,
    operations bigint NOT NULL DEFAULT 0,
    tool_version text NOT NULL
);

-- For the audit views.
CREATE INDEX operations_failed_idx ON {{.schema}}.operations (execution_arn) WHERE status IN ('FAILED', 'TIMED_OUT');
CREATE INDEX operations_retried_idx ON {{.schema}}.operations (attempt) WHERE type = 'STEP' AND attempt > 1;
CREATE INDEX operations_open_callbacks_idx ON {{.schema}}.operations (start_time) WHERE type = 'CALLBACK' AND end_time IS NULL;
CREATE INDEX operations_duration_idx ON {{.schema}}.operations ((end_time - start_time) DESC) WHERE end_time IS NOT NULL AND start_time IS NOT NULL;
CREATE INDEX executions_function_start_idx ON {{.schema}}.executions (function_name, start_time);

---- create above / drop below ----

DROP TABLE {{.schema}}.runs;
DROP TABLE {{.schema}}.executions;
DROP TABLE {{.schema}}.operations;
