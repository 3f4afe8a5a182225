-- executions.execution_data_included: GetDurableExecution's
-- ExecutionDataIncluded. A run reads an execution without its payloads
-- when the service cannot decrypt them (a KMS error: the function's key
-- disabled, deleted or no longer granted); the row then says so.
ALTER TABLE {{.schema}}.executions ADD COLUMN execution_data_included boolean;

---- create above / drop below ----

ALTER TABLE {{.schema}}.executions DROP COLUMN execution_data_included;
