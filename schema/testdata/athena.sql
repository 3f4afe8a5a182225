CREATE DATABASE IF NOT EXISTS `durable`;

CREATE EXTERNAL TABLE IF NOT EXISTS `durable`.`operations` (
  `execution_arn` string,
  `operation_id` string,
  `seq` bigint,
  `parent_id` string,
  `name` string,
  `type` string,
  `sub_type` string,
  `status` string,
  `start_time` timestamp,
  `end_time` timestamp,
  `detail_kind` string,
  `input_payload` string,
  `replay_children` boolean,
  `attempt` int,
  `next_attempt_time` timestamp,
  `scheduled_end_time` timestamp,
  `callback_id` string,
  `result` string,
  `error_type` string,
  `error_message` string,
  `error_data` string,
  `error_stack_trace` array<string>,
  `overflow_json` string,
  `source` string,
  `run_id` string,
  `extracted_at` timestamp
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://my-archive/durable/operations/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.dt.type'='date',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.range'='2025-01-01,NOW',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'storage.location.template'='s3://my-archive/durable/operations/dt=${dt}/');

CREATE EXTERNAL TABLE IF NOT EXISTS `durable`.`executions` (
  `execution_arn` string,
  `region` string,
  `account_id` string,
  `function_name` string,
  `function_qualifier` string,
  `execution_name` string,
  `execution_id` string,
  `status` string,
  `start_time` timestamp,
  `end_time` timestamp,
  `input_payload` string,
  `operation_count` bigint,
  `failed_operation_count` bigint,
  `content_hash` string,
  `source` string,
  `function_arn` string,
  `version` string,
  `result` string,
  `error_type` string,
  `error_message` string,
  `error_data` string,
  `error_stack_trace` array<string>,
  `overflow_json` string,
  `retention_period_days` int,
  `execution_timeout_seconds` int,
  `kms_key_arn` string,
  `trace_id` string,
  `event_count` bigint,
  `last_event_id` int,
  `execution_data_included` boolean,
  `expected_execution_timeout_time` timestamp,
  `pause_request_time` timestamp,
  `pause_execution_timeout_paused` boolean,
  `pause_reason` string,
  `run_id` string,
  `extracted_at` timestamp
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://my-archive/durable/executions/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.dt.type'='date',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.range'='2025-01-01,NOW',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'storage.location.template'='s3://my-archive/durable/executions/dt=${dt}/');

CREATE EXTERNAL TABLE IF NOT EXISTS `durable`.`events` (
  `execution_arn` string,
  `event_id` int,
  `event_type` string,
  `event_time` timestamp,
  `operation_id` string,
  `parent_id` string,
  `name` string,
  `sub_type` string,
  `detail_kind` string,
  `input_payload` string,
  `result` string,
  `error_type` string,
  `error_message` string,
  `error_data` string,
  `error_stack_trace` array<string>,
  `payload_truncated` boolean,
  `attempt` int,
  `next_attempt_delay_seconds` int,
  `duration_seconds` int,
  `scheduled_end_time` timestamp,
  `callback_id` string,
  `timeout_seconds` int,
  `heartbeat_timeout_seconds` int,
  `execution_timeout_seconds` int,
  `invoked_function_name` string,
  `invoked_execution_arn` string,
  `executed_version` string,
  `tenant_id` string,
  `request_id` string,
  `invocation_start_time` timestamp,
  `invocation_end_time` timestamp,
  `reason` string,
  `request_time` timestamp,
  `execution_timeout_paused` boolean,
  `overflow_json` string,
  `run_id` string,
  `extracted_at` timestamp
)
PARTITIONED BY (`dt` string)
STORED AS PARQUET
LOCATION 's3://my-archive/durable/events/'
TBLPROPERTIES (
  'projection.enabled'='true',
  'projection.dt.type'='date',
  'projection.dt.format'='yyyy-MM-dd',
  'projection.dt.range'='2025-01-01,NOW',
  'projection.dt.interval'='1',
  'projection.dt.interval.unit'='DAYS',
  'storage.location.template'='s3://my-archive/durable/events/dt=${dt}/');

CREATE OR REPLACE VIEW "durable"."operations_latest" AS
SELECT "execution_arn", "operation_id", "seq", "parent_id", "name", "type", "sub_type", "status", "start_time", "end_time", "detail_kind", "input_payload", "replay_children", "attempt", "next_attempt_time", "scheduled_end_time", "callback_id", "result", "error_type", "error_message", "error_data", "error_stack_trace", "overflow_json", "source", "run_id", "extracted_at", "dt" FROM (SELECT "execution_arn", "operation_id", "seq", "parent_id", "name", "type", "sub_type", "status", "start_time", "end_time", "detail_kind", "input_payload", "replay_children", "attempt", "next_attempt_time", "scheduled_end_time", "callback_id", "result", "error_type", "error_message", "error_data", "error_stack_trace", "overflow_json", "source", "run_id", "extracted_at", "dt", row_number() OVER (PARTITION BY "dt", "execution_arn", "operation_id" ORDER BY "extracted_at" DESC, "run_id" DESC) AS "snapshot_rank" FROM "durable"."operations") WHERE "snapshot_rank" = 1;

CREATE OR REPLACE VIEW "durable"."executions_latest" AS
SELECT "execution_arn", "region", "account_id", "function_name", "function_qualifier", "execution_name", "execution_id", "status", "start_time", "end_time", "input_payload", "operation_count", "failed_operation_count", "content_hash", "source", "function_arn", "version", "result", "error_type", "error_message", "error_data", "error_stack_trace", "overflow_json", "retention_period_days", "execution_timeout_seconds", "kms_key_arn", "trace_id", "event_count", "last_event_id", "execution_data_included", "expected_execution_timeout_time", "pause_request_time", "pause_execution_timeout_paused", "pause_reason", "run_id", "extracted_at", "dt" FROM (SELECT "execution_arn", "region", "account_id", "function_name", "function_qualifier", "execution_name", "execution_id", "status", "start_time", "end_time", "input_payload", "operation_count", "failed_operation_count", "content_hash", "source", "function_arn", "version", "result", "error_type", "error_message", "error_data", "error_stack_trace", "overflow_json", "retention_period_days", "execution_timeout_seconds", "kms_key_arn", "trace_id", "event_count", "last_event_id", "execution_data_included", "expected_execution_timeout_time", "pause_request_time", "pause_execution_timeout_paused", "pause_reason", "run_id", "extracted_at", "dt", row_number() OVER (PARTITION BY "dt", "execution_arn" ORDER BY "extracted_at" DESC, "run_id" DESC) AS "snapshot_rank" FROM "durable"."executions") WHERE "snapshot_rank" = 1;

CREATE OR REPLACE VIEW "durable"."events_latest" AS
SELECT "execution_arn", "event_id", "event_type", "event_time", "operation_id", "parent_id", "name", "sub_type", "detail_kind", "input_payload", "result", "error_type", "error_message", "error_data", "error_stack_trace", "payload_truncated", "attempt", "next_attempt_delay_seconds", "duration_seconds", "scheduled_end_time", "callback_id", "timeout_seconds", "heartbeat_timeout_seconds", "execution_timeout_seconds", "invoked_function_name", "invoked_execution_arn", "executed_version", "tenant_id", "request_id", "invocation_start_time", "invocation_end_time", "reason", "request_time", "execution_timeout_paused", "overflow_json", "run_id", "extracted_at", "dt" FROM (SELECT "execution_arn", "event_id", "event_type", "event_time", "operation_id", "parent_id", "name", "sub_type", "detail_kind", "input_payload", "result", "error_type", "error_message", "error_data", "error_stack_trace", "payload_truncated", "attempt", "next_attempt_delay_seconds", "duration_seconds", "scheduled_end_time", "callback_id", "timeout_seconds", "heartbeat_timeout_seconds", "execution_timeout_seconds", "invoked_function_name", "invoked_execution_arn", "executed_version", "tenant_id", "request_id", "invocation_start_time", "invocation_end_time", "reason", "request_time", "execution_timeout_paused", "overflow_json", "run_id", "extracted_at", "dt", row_number() OVER (PARTITION BY "dt", "execution_arn", "event_id" ORDER BY "extracted_at" DESC, "run_id" DESC) AS "snapshot_rank" FROM "durable"."events") WHERE "snapshot_rank" = 1;
