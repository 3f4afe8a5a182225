package schema

import (
	"fmt"
	"reflect"
	"slices"
	"strings"
	"time"

	"github.com/parquet-go/parquet-go"
)

// Operation is one row of the operations table: one operation of one
// archived snapshot of a durable execution.
type Operation struct {
	ExecutionArn     string     `parquet:"execution_arn,dict" doc:"the manifest's DurableExecutionArn"`
	OperationID      string     `parquet:"operation_id" doc:"Id"`
	Seq              int64      `parquet:"seq" doc:"0-based position in the API's order, across all pages"`
	ParentID         *string    `parquet:"parent_id,optional" doc:"ParentId"`
	Name             *string    `parquet:"name,optional,dict" doc:"Name"`
	Type             string     `parquet:"type,dict" doc:"Type (an unknown value is kept as given)"`
	SubType          *string    `parquet:"sub_type,optional,dict" doc:"SubType"`
	Status           string     `parquet:"status,dict" doc:"Status (an unknown value is kept as given)"`
	StartTime        *time.Time `parquet:"start_time,optional,timestamp(millisecond)" doc:"StartTimestamp"`
	EndTime          *time.Time `parquet:"end_time,optional,timestamp(millisecond)" doc:"EndTimestamp"`
	DetailKind       *string    `parquet:"detail_kind,optional,dict" doc:"which details object the operation carried: execution, context, step, wait, callback, chained_invoke"`
	InputPayload     *string    `parquet:"input_payload,optional" doc:"ExecutionDetails.InputPayload" large:"true" data:"input"`
	ReplayChildren   *bool      `parquet:"replay_children,optional" doc:"ContextDetails.ReplayChildren"`
	Attempt          *int32     `parquet:"attempt,optional" doc:"StepDetails.Attempt"`
	NextAttemptTime  *time.Time `parquet:"next_attempt_time,optional,timestamp(millisecond)" doc:"StepDetails.NextAttemptTimestamp"`
	ScheduledEndTime *time.Time `parquet:"scheduled_end_time,optional,timestamp(millisecond)" doc:"WaitDetails.ScheduledEndTimestamp"`
	CallbackID       *string    `parquet:"callback_id,optional" doc:"CallbackDetails.CallbackId"`
	Result           *string    `parquet:"result,optional" doc:"Result of the context, step, callback or chained invoke" large:"true" data:"outcome"`
	ErrorType        *string    `parquet:"error_type,optional" doc:"Error.ErrorType of that details object" data:"outcome"`
	ErrorMessage     *string    `parquet:"error_message,optional" doc:"Error.ErrorMessage" large:"true" data:"outcome"`
	ErrorData        *string    `parquet:"error_data,optional" doc:"Error.ErrorData" large:"true" data:"outcome"`
	ErrorStackTrace  []string   `parquet:"error_stack_trace,optional,list" doc:"Error.StackTrace" large:"true" data:"outcome"`
	OverflowJSON     *string    `parquet:"overflow_json,optional" doc:"null unless the operation carried what the columns above cannot hold (an Error object with no members, a Result or Error on a second details object, no Id, a time off the millisecond): those parts, as JSON in the API's member names (a string that is not UTF-8 with U+FFFD, its bytes in base64 under \"NotUTF8\"); and, under \"Unknown\", the members the API sent that the SDK's model does not know" large:"true" data:"outcome"`
	Source           string     `parquet:"source,dict" doc:"state or history: how the row was obtained"`
	RunID            string     `parquet:"run_id,dict" doc:"the run that wrote the row"`
	ExtractedAt      time.Time  `parquet:"extracted_at,timestamp(millisecond)" doc:"when the run read the execution"`
}

// Execution is one row of the executions table: one archived snapshot of a
// durable execution, summarised.
type Execution struct {
	ExecutionArn          string     `parquet:"execution_arn,dict" doc:"the manifest's DurableExecutionArn"`
	Region                *string    `parquet:"region,optional,dict" doc:"parsed from the ARN; null when the ARN has another form"`
	AccountID             *string    `parquet:"account_id,optional,dict" doc:"parsed from the ARN; null when the ARN has another form"`
	FunctionName          *string    `parquet:"function_name,optional,dict" doc:"parsed from the ARN; null when the ARN has another form"`
	FunctionQualifier     *string    `parquet:"function_qualifier,optional,dict" doc:"parsed from the ARN; null when the ARN has another form"`
	ExecutionName         *string    `parquet:"execution_name,optional" doc:"parsed from the ARN; null when the ARN has another form"`
	ExecutionID           *string    `parquet:"execution_id,optional" doc:"parsed from the ARN; null when the ARN has another form"`
	Status                *string    `parquet:"status,optional" doc:"the EXECUTION operation's Status"`
	StartTime             *time.Time `parquet:"start_time,optional,timestamp(millisecond)" doc:"the EXECUTION operation's StartTimestamp"`
	EndTime               *time.Time `parquet:"end_time,optional,timestamp(millisecond)" doc:"the EXECUTION operation's EndTimestamp"`
	InputPayload          *string    `parquet:"input_payload,optional" doc:"the EXECUTION operation's ExecutionDetails.InputPayload" large:"true" data:"input"`
	OperationCount        int64      `parquet:"operation_count" doc:"operations in the snapshot"`
	FailedOperationCount  int64      `parquet:"failed_operation_count" doc:"operations with status FAILED or TIMED_OUT"`
	ContentHash           string     `parquet:"content_hash" doc:"hex SHA-256 over the snapshot's operations in a canonical form"`
	Source                string     `parquet:"source,dict" doc:"state or history: how the row was obtained"`
	FunctionArn           *string    `parquet:"function_arn,optional,dict" doc:"GetDurableExecution's FunctionArn"`
	Version               *string    `parquet:"version,optional,dict" doc:"GetDurableExecution's Version"`
	Result                *string    `parquet:"result,optional" doc:"the execution's Result (GetDurableExecution)" large:"true" data:"outcome"`
	ErrorType             *string    `parquet:"error_type,optional" doc:"the execution's Error.ErrorType" data:"outcome"`
	ErrorMessage          *string    `parquet:"error_message,optional" doc:"the execution's Error.ErrorMessage" large:"true" data:"outcome"`
	ErrorData             *string    `parquet:"error_data,optional" doc:"the execution's Error.ErrorData" large:"true" data:"outcome"`
	ErrorStackTrace       []string   `parquet:"error_stack_trace,optional,list" doc:"the execution's Error.StackTrace" large:"true" data:"outcome"`
	OverflowJSON          *string    `parquet:"overflow_json,optional" doc:"null unless the execution's Error or PauseDetails object had no members ({\"Error\":{},\"PauseDetails\":{}}) or GetDurableExecution sent members the SDK's model does not know ({\"Unknown\":{...}})" large:"true" data:"outcome"`
	RetentionPeriodDays   *int32     `parquet:"retention_period_days,optional" doc:"DurableConfig.RetentionPeriodInDays"`
	ExecutionTimeoutSecs  *int32     `parquet:"execution_timeout_seconds,optional" doc:"DurableConfig.ExecutionTimeout"`
	KMSKeyArn             *string    `parquet:"kms_key_arn,optional" doc:"DurableConfig.KMSKeyArn"`
	TraceID               *string    `parquet:"trace_id,optional" doc:"TraceHeader.XAmznTraceId"`
	EventCount            *int64     `parquet:"event_count,optional" doc:"events in the execution's history when it was read (source history); null for source state"`
	LastEventID           *int32     `parquet:"last_event_id,optional" doc:"the highest EventId of that history (the first event_count events of the history are in the events table)"`
	ExecutionDataIncluded *bool      `parquet:"execution_data_included,optional" doc:"GetDurableExecution's ExecutionDataIncluded: false when the payloads were left out (the service could not decrypt them with the function's KMS key), and then the events' payload_truncated says which were" since:"2026-12-02"`
	ExpectedTimeoutTime   *time.Time `parquet:"expected_execution_timeout_time,optional,timestamp(millisecond)" doc:"GetDurableExecution's ExpectedExecutionTimeoutTimestamp: when a running execution times out, its time paused included" since:"2026-12-03"`
	PauseRequestTime      *time.Time `parquet:"pause_request_time,optional,timestamp(millisecond)" doc:"GetDurableExecution's PauseDetails.PauseRequestTimestamp (status PAUSING or PAUSED)" since:"2026-12-03"`
	PauseTimeoutPaused    *bool      `parquet:"pause_execution_timeout_paused,optional" doc:"GetDurableExecution's PauseDetails.ExecutionTimeoutPaused" since:"2026-12-03"`
	PauseReason           *string    `parquet:"pause_reason,optional" doc:"GetDurableExecution's PauseDetails.Reason" large:"true" data:"outcome" since:"2026-12-03"`
	RunID                 string     `parquet:"run_id,dict" doc:"the run that wrote the row"`
	ExtractedAt           time.Time  `parquet:"extracted_at,timestamp(millisecond)" doc:"when the run read the execution"`
}

// Event is one row of the events table: one event of a durable execution's
// history (GetDurableExecutionHistory). Events are immutable: each
// (execution_arn, event_id) is archived once, and once more only if it was
// first read without its payloads (the service could not decrypt them) and
// later with them; the newer row is then the event.
type Event struct {
	ExecutionArn            string     `parquet:"execution_arn,dict" doc:"the execution's DurableExecutionArn"`
	EventID                 int32      `parquet:"event_id" doc:"EventId"`
	EventType               string     `parquet:"event_type,dict" doc:"EventType (an unknown value is kept as given)"`
	EventTime               *time.Time `parquet:"event_time,optional,timestamp(millisecond)" doc:"EventTimestamp"`
	OperationID             *string    `parquet:"operation_id,optional" doc:"Id"`
	ParentID                *string    `parquet:"parent_id,optional" doc:"ParentId"`
	Name                    *string    `parquet:"name,optional,dict" doc:"Name"`
	SubType                 *string    `parquet:"sub_type,optional,dict" doc:"SubType"`
	DetailKind              *string    `parquet:"detail_kind,optional,dict" doc:"which details object the event carried, snake_case without _details (step_failed, invocation_completed, ...)"`
	InputPayload            *string    `parquet:"input_payload,optional" doc:"ExecutionStarted / ChainedInvokeStarted Input.Payload" large:"true" data:"input"`
	Result                  *string    `parquet:"result,optional" doc:"Result.Payload of a *Succeeded event" large:"true" data:"outcome"`
	ErrorType               *string    `parquet:"error_type,optional" doc:"Error.Payload.ErrorType" data:"outcome"`
	ErrorMessage            *string    `parquet:"error_message,optional" doc:"Error.Payload.ErrorMessage" large:"true" data:"outcome"`
	ErrorData               *string    `parquet:"error_data,optional" doc:"Error.Payload.ErrorData" large:"true" data:"outcome"`
	ErrorStackTrace         []string   `parquet:"error_stack_trace,optional,list" doc:"Error.Payload.StackTrace" large:"true" data:"outcome"`
	PayloadTruncated        *bool      `parquet:"payload_truncated,optional" doc:"the Truncated flag of the Input, Result or Error" data:"outcome"`
	Attempt                 *int32     `parquet:"attempt,optional" doc:"RetryDetails.CurrentAttempt"`
	NextAttemptDelaySeconds *int32     `parquet:"next_attempt_delay_seconds,optional" doc:"RetryDetails.NextAttemptDelaySeconds"`
	DurationSeconds         *int32     `parquet:"duration_seconds,optional" doc:"WaitStarted / WaitSucceeded Duration"`
	ScheduledEndTime        *time.Time `parquet:"scheduled_end_time,optional,timestamp(millisecond)" doc:"WaitStarted ScheduledEndTimestamp"`
	CallbackID              *string    `parquet:"callback_id,optional" doc:"CallbackStarted CallbackId"`
	TimeoutSeconds          *int32     `parquet:"timeout_seconds,optional" doc:"CallbackStarted Timeout"`
	HeartbeatTimeoutSeconds *int32     `parquet:"heartbeat_timeout_seconds,optional" doc:"CallbackStarted HeartbeatTimeout"`
	ExecutionTimeoutSeconds *int32     `parquet:"execution_timeout_seconds,optional" doc:"ExecutionStarted ExecutionTimeout"`
	InvokedFunctionName     *string    `parquet:"invoked_function_name,optional,dict" doc:"ChainedInvokeStarted FunctionName"`
	InvokedExecutionArn     *string    `parquet:"invoked_execution_arn,optional" doc:"ChainedInvokeStarted DurableExecutionArn"`
	ExecutedVersion         *string    `parquet:"executed_version,optional,dict" doc:"ChainedInvokeStarted ExecutedVersion"`
	TenantID                *string    `parquet:"tenant_id,optional,dict" doc:"ChainedInvokeStarted TenantId"`
	RequestID               *string    `parquet:"request_id,optional" doc:"InvocationCompleted RequestId"`
	InvocationStartTime     *time.Time `parquet:"invocation_start_time,optional,timestamp(millisecond)" doc:"InvocationCompleted StartTimestamp"`
	InvocationEndTime       *time.Time `parquet:"invocation_end_time,optional,timestamp(millisecond)" doc:"InvocationCompleted EndTimestamp"`
	Reason                  *string    `parquet:"reason,optional" doc:"ExecutionPaused / ExecutionResumed Reason.Payload" large:"true" data:"outcome" since:"2026-12-03"`
	RequestTime             *time.Time `parquet:"request_time,optional,timestamp(millisecond)" doc:"ExecutionPaused PauseRequestTimestamp / ExecutionResumed ResumeRequestTimestamp" since:"2026-12-03"`
	ExecutionTimeoutPaused  *bool      `parquet:"execution_timeout_paused,optional" doc:"ExecutionPaused ExecutionTimeoutPaused" since:"2026-12-03"`
	OverflowJSON            *string    `parquet:"overflow_json,optional" doc:"null unless the event carried what the columns above cannot hold (several details objects, an empty Input/Result/Error object, a member this version does not know, no EventId, a time off the millisecond): then every details object, as JSON in the API's member names (a string that is not UTF-8 with U+FFFD, its bytes in base64 under \"NotUTF8\"); and, under \"Unknown\", the members the API sent that the SDK's model does not know" large:"true"`
	RunID                   string     `parquet:"run_id,dict" doc:"the run that wrote the row"`
	ExtractedAt             time.Time  `parquet:"extracted_at,timestamp(millisecond)" doc:"when the run read the history"`
}

// Kind is a column's logical type, independent of any one store.
type Kind int

// The column kinds the tables use.
const (
	String Kind = iota
	Int32
	Int64
	Bool
	Timestamp  // UTC, millisecond precision
	StringList // a list of strings; null and empty are different
)

// Column describes one column of a table.
type Column struct {
	Name     string
	Kind     Kind
	Nullable bool
	Doc      string
	// Large marks columns that hold payloads, results or error text: they get
	// no Parquet page statistics or column-index bounds, which would copy
	// whole values into page headers and footers.
	Large bool
	// Since is the date (YYYY-MM-DD) the column was added to the contract,
	// for the columns added after the first (tag since): rows archived
	// before hold null in it, which is no loss of theirs (verify names
	// them apart; etl run --force archives them again: an executions row
	// as any, an event when it has a value in such a column, see
	// [HasSinceValue]). "" for the rest.
	Since string
	// Data says whether a read without the execution's data (the service
	// could not decrypt it: execution_data_included false) leaves the
	// column out (or, payload_truncated, says so), and how an archived
	// value outlives such a read (see [DataKind]).
	Data DataKind
}

// DataKind is what a read without the execution's data does to a column.
type DataKind int

// The data kinds.
const (
	// NotData: the column is read alike with or without the data.
	NotData DataKind = iota
	// DataInput: an input payload, given once and never changed: a read
	// without the data keeps the archived value.
	DataInput
	// DataOutcome: a result, an error, what overflows from them or the
	// flag that says they were left out, which belong to the row's state of
	// the moment: a read without the data keeps the archived value while
	// every column that is not data is as archived (but those that say how
	// the row was read: source, run_id, extracted_at, the table's Order),
	// and takes the read's once the row moved on (the outcome read then is
	// not the one archived).
	DataOutcome
)

var dataKinds = map[string]DataKind{"": NotData, "input": DataInput, "outcome": DataOutcome}

// Table is one of the archive's tables. Loaders write any table from its
// declaration alone: its columns, its key and whether its rows are
// immutable.
type Table struct {
	Name    string
	Columns []Column
	// Key identifies a row across snapshots: the Postgres primary key, the
	// key of the _latest views and of compaction's --keep latest.
	Key []string
	// Order, when set, is the column whose highest value wins when one
	// snapshot holds two rows of a key (operations: seq); unset, any.
	Order string
	// rowType is the Go struct a row of the table is written from.
	rowType reflect.Type
	codec   codec
	// notState marks the columns that are not StateColumns, a DiffRow
	// mask for KeepData.
	notState []bool
	// since are the indexes of the columns with a Since date.
	since []int
}

// The archive's tables, derived from the row structs. Executions is the
// commit table: one row per archived snapshot, written last, naming what
// the other tables hold of it.
var (
	Operations = declare[Operation]("operations", Table{Key: []string{"execution_arn", "operation_id"}, Order: "seq"})
	Executions = declare[Execution]("executions", Table{Key: []string{"execution_arn"}})
	Events     = declare[Event]("events", Table{Key: []string{"execution_arn", "event_id"}})
)

// Tables lists the tables in a stable order.
func Tables() []*Table { return []*Table{Operations, Executions, Events} }

// ChildTables lists, in a stable order, the tables whose rows an execution
// writes before its executions row: every table but [Executions].
// Loaders publish them before the executions table.
func ChildTables() []*Table { return []*Table{Operations, Events} }

// PartitionKey is the Hive partition column of every table: the UTC date of
// the execution's start, YYYY-MM-DD.
const PartitionKey = "dt"

// Declare makes a table of the row struct T (see the package doc for what
// its tags say), with the key and Order of decl; the archive's
// own tables are declared this way, and a test may declare one of its own.
// It panics when a field has a type no column kind holds or a key or order
// column is not a column.
func Declare[T any](name string, decl Table) *Table { return declare[T](name, decl) }

func declare[T any](name string, decl Table) *Table {
	rt := reflect.TypeFor[T]()
	t := &Table{Name: name, Key: decl.Key, Order: decl.Order, rowType: rt}
	for i := range rt.NumField() {
		f := rt.Field(i)
		tag := strings.Split(f.Tag.Get("parquet"), ",")
		col := Column{Name: tag[0], Doc: f.Tag.Get("doc"), Large: f.Tag.Get("large") == "true", Since: f.Tag.Get("since")}
		data, ok := dataKinds[f.Tag.Get("data")]
		if !ok {
			panic(fmt.Sprintf("schema: %s.%s has an unknown data tag %q", rt.Name(), f.Name, f.Tag.Get("data")))
		}
		col.Data = data
		ft, ok := fieldTypes[f.Type]
		if !ok {
			panic(fmt.Sprintf("schema: %s.%s has a type with no column kind: %s", rt.Name(), f.Name, f.Type))
		}
		col.Kind = ft.column
		col.Nullable = f.Type.Kind() == reflect.Pointer || slices.Contains(tag[1:], "optional")
		t.Columns = append(t.Columns, col)
	}
	for _, k := range append(append([]string(nil), t.Key...), t.Order) {
		if k != "" && t.Column(k) < 0 {
			panic(fmt.Sprintf("schema: %s has no column %s", name, k))
		}
	}
	t.codec = newCodec[T](rt)
	t.notState = make([]bool, len(t.Columns))
	for i, c := range t.Columns {
		t.notState[i] = !t.StateColumn(c)
		if c.Since != "" {
			if !c.Nullable {
				panic(fmt.Sprintf("schema: %s.%s is added since %s but not nullable: older rows hold no null in it", name, c.Name, c.Since))
			}
			t.since = append(t.since, i)
		}
	}
	return t
}

// Column is the index of the named column, or -1.
func (t *Table) Column(name string) int {
	for i, c := range t.Columns {
		if c.Name == name {
			return i
		}
	}
	return -1
}

// ParquetSchema is the table's Parquet schema: snake_case names, OPTIONAL
// for nullable columns, INT64 TIMESTAMP(MILLIS, isAdjustedToUTC=true), and
// the standard 3-level LIST for string lists.
// The schema's root is named after the table.
func (t *Table) ParquetSchema() *parquet.Schema {
	return parquet.NewSchema(t.Name, parquet.SchemaOf(reflect.New(t.rowType).Elem().Interface()))
}

// WriterOptions are the options of every Parquet file of t's rows that
// etl writes, followed by more (the codec, the writer's name): t's
// ParquetSchema, version 1 data pages, no statistics in page headers, and
// no page statistics or bounds for the Large columns. Page headers carry
// no statistics because readers prune pages by the page index (the column
// index, which stays; parquet-mr stopped writing them long ago), and
// because with them a reused writer's bytes would depend on the files it
// wrote before (an all-null page's header carries empty bounds once its
// column held a value): see ParquetWriter.Reset.
func (t *Table) WriterOptions(more ...parquet.WriterOption) []parquet.WriterOption {
	opts := []parquet.WriterOption{t.ParquetSchema(), parquet.DataPageVersion(1), parquet.DataPageStatistics(false)}
	for _, c := range t.Columns {
		if !c.Large {
			continue
		}
		path := []string{c.Name}
		if c.Kind == StringList {
			path = append(path, "list", "element")
		}
		opts = append(opts, parquet.SkipPageStatistics(path...), parquet.SkipPageBounds(path...))
	}
	return append(opts, more...)
}

// AthenaType is the column's type in Athena (Hive DDL).
func (c Column) AthenaType() string {
	return [...]string{String: "string", Int32: "int", Int64: "bigint", Bool: "boolean", Timestamp: "timestamp", StringList: "array<string>"}[c.Kind]
}

// PostgresType is the column's type in Postgres.
func (c Column) PostgresType() string {
	return [...]string{String: "text", Int32: "integer", Int64: "bigint", Bool: "boolean", Timestamp: "timestamptz", StringList: "text[]"}[c.Kind]
}
