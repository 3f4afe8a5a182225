-- step_attempts.retried: an attempt is retried when its RetryDetails carry a
-- next-attempt delay of 1 second or more, on StepFailed (an error) or on
-- StepSucceeded (a wait-for-condition check not met yet). A retry's delay is
-- at least 1 (StepOptions.NextAttemptDelaySeconds), so 0 is none: AWS's
-- Python testing server writes 0 on a step's last StepFailed, which 004
-- called retried.
CREATE OR REPLACE VIEW {{.schema}}.step_attempts AS
SELECT ev.execution_arn, e.function_name, ev.operation_id, ev.name, ev.event_id, ev.event_type,
       ev.event_time, ev.attempt, ev.next_attempt_delay_seconds,
       coalesce(ev.next_attempt_delay_seconds > 0, false) AS retried,
       ev.error_type, ev.error_message, ev.result
FROM {{.schema}}.events ev
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE ev.event_type IN ('StepSucceeded', 'StepFailed');

---- create above / drop below ----

CREATE OR REPLACE VIEW {{.schema}}.step_attempts AS
SELECT ev.execution_arn, e.function_name, ev.operation_id, ev.name, ev.event_id, ev.event_type,
       ev.event_time, ev.attempt, ev.next_attempt_delay_seconds,
       ev.event_type = 'StepFailed' AND ev.next_attempt_delay_seconds IS NOT NULL AS retried,
       ev.error_type, ev.error_message, ev.result
FROM {{.schema}}.events ev
LEFT JOIN {{.schema}}.executions e USING (execution_arn)
WHERE ev.event_type IN ('StepSucceeded', 'StepFailed');
