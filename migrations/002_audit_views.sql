-- Audit views; the README shows queries over them.

-- Operations that failed or timed out, with their errors and execution.
CREATE VIEW {{.schema}}.failed_operations AS
SELECT o.execution_arn, e.function_name, o.operation_id, o.name, o.type, o.status,
       o.start_time, o.end_time, o.error_type, o.error_message, o.error_data, o.error_stack_trace
FROM {{.schema}}.operations o
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE o.status IN ('FAILED', 'TIMED_OUT');

-- Steps that needed more than one attempt.
CREATE VIEW {{.schema}}.retried_steps AS
SELECT o.execution_arn, e.function_name, o.operation_id, o.name, o.status, o.attempt,
       o.next_attempt_time, o.error_type, o.error_message
FROM {{.schema}}.operations o
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE o.type = 'STEP' AND o.attempt > 1;

-- Executions by function, status and UTC start day.
CREATE VIEW {{.schema}}.executions_by_status_daily AS
SELECT function_name, (start_time AT TIME ZONE 'UTC')::date AS day, status, count(*) AS executions
FROM {{.schema}}.executions
GROUP BY function_name, (start_time AT TIME ZONE 'UTC')::date, status;

-- Callbacks that have not ended: still waiting for an answer.
CREATE VIEW {{.schema}}.open_callbacks AS
SELECT o.execution_arn, e.function_name, o.operation_id, o.name, o.callback_id, o.status, o.start_time,
       o.extracted_at - o.start_time AS open_for
FROM {{.schema}}.operations o
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE o.type = 'CALLBACK' AND o.end_time IS NULL;

-- Operations by duration, longest first.
CREATE VIEW {{.schema}}.longest_operations AS
SELECT o.execution_arn, e.function_name, o.operation_id, o.name, o.type, o.status,
       o.start_time, o.end_time, o.end_time - o.start_time AS duration
FROM {{.schema}}.operations o
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE o.end_time IS NOT NULL AND o.start_time IS NOT NULL
ORDER BY duration DESC;

---- create above / drop below ----

DROP VIEW {{.schema}}.longest_operations;
DROP VIEW {{.schema}}.open_callbacks;
DROP VIEW {{.schema}}.executions_by_status_daily;
DROP VIEW {{.schema}}.retried_steps;
DROP VIEW {{.schema}}.failed_operations;
