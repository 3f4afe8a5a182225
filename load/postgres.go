package load

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durable-etl/durable-etl/migrations"
	"github.com/durable-etl/durable-etl/schema"
)

// PostgresOption configures a [Postgres] loader.
type PostgresOption func(*postgresConfig)

type postgresConfig struct {
	schema   string
	maxConns int32
	migrate  bool
	logger   *slog.Logger
}

// WithPGSchema names the Postgres schema (default "durable_archive"). It is
// always quoted as an identifier.
func WithPGSchema(s string) PostgresOption { return func(c *postgresConfig) { c.schema = s } }

// WithMaxConns sizes the pool (default 8). Each execution in flight holds
// one connection, so give at least --concurrency.
func WithMaxConns(n int32) PostgresOption { return func(c *postgresConfig) { c.maxConns = n } }

// WithMigrate applies pending migrations when connecting (default: refuse
// with a *migrations.PendingError).
func WithMigrate(on bool) PostgresOption { return func(c *postgresConfig) { c.migrate = on } }

// WithPGLogger receives the loader's warnings, such as a U+0000 stored as
// U+FFFD (default: discard).
func WithPGLogger(l *slog.Logger) PostgresOption { return func(c *postgresConfig) { c.logger = l } }

// Postgres loads the archive into Postgres tables:
// SCHEMA.operations (key execution_arn, operation_id) and SCHEMA.executions
// (key execution_arn).
//
// Each execution is one transaction on its own connection: its operation rows
// stream in with COPY into a temporary staging table, and Commit moves them
// into the table with one INSERT ... SELECT ... ON CONFLICT DO UPDATE in key
// order (so concurrent runs cannot deadlock), then upserts the executions row
// and commits. A reader never sees half an execution; a failed execution
// rolls back whole. A later snapshot updates the rows it contains and never
// deletes an operation seen before. A row whose content is unchanged is not
// rewritten: run_id and extracted_at say which run last changed a row, so a
// rerun of the same manifest changes zero rows.
type Postgres struct {
	pool   *pgxpool.Pool
	cfg    postgresConfig
	target string // redacted URL, for messages

	opsUpsert, opsInsert  string
	execUpsert, execKnown string
	eventsInsert          string
	stageDDL              string
	stagedConns           *sync.Map

	mu    sync.Mutex
	stats Stats
}

// NewPostgres connects (checking the server is reachable and the schema is
// migrated, or migrating it with WithMigrate) before anything is fetched.
// Errors name the URL with its password masked.
func NewPostgres(ctx context.Context, url string, opts ...PostgresOption) (*Postgres, error) {
	cfg := postgresConfig{schema: schema.DefaultPostgresSchema, maxConns: 8, logger: slog.New(slog.DiscardHandler)}
	for _, o := range opts {
		o(&cfg)
	}
	target := Redact(url)
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %s", target, RedactError(err, url))
	}
	pcfg.MaxConns = cfg.maxConns
	pcfg.ConnConfig.RuntimeParams["application_name"] = "durable-etl"
	stageDDL := fmt.Sprintf("CREATE TEMP TABLE IF NOT EXISTS etl_stage_operations (LIKE %s) ON COMMIT DELETE ROWS; "+
		"CREATE TEMP TABLE IF NOT EXISTS etl_stage_events (LIKE %s) ON COMMIT DELETE ROWS",
		pgx.Identifier{cfg.schema, "operations"}.Sanitize(), pgx.Identifier{cfg.schema, "events"}.Sanitize())
	// Each connection gets its staging table once; it empties at every commit
	// or rollback. (Before migrations have run, the table is made on first use.)
	var staged sync.Map // *pgx.Conn that have the staging table
	pcfg.AfterConnect = func(ctx context.Context, c *pgx.Conn) error {
		if _, err := c.Exec(ctx, stageDDL); err == nil {
			staged.Store(c, true)
		}
		return nil
	}
	pcfg.BeforeClose = func(c *pgx.Conn) { staged.Delete(c) }
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %s", target, RedactError(err, url))
	}
	p := &Postgres{pool: pool, cfg: cfg, target: target, stagedConns: &staged}
	err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		if cfg.migrate {
			return migrations.Migrate(ctx, c.Conn(), cfg.schema)
		}
		return migrations.Check(ctx, c.Conn(), cfg.schema)
	})
	if err != nil {
		pool.Close()
		var pending *migrations.PendingError
		if errors.As(err, &pending) {
			return nil, fmt.Errorf("destination %s: %w", target, err)
		}
		return nil, fmt.Errorf("destination %s: %s", target, RedactError(err, url))
	}
	p.opsUpsert = upsertSQL(cfg.schema, schema.Operations, "etl_stage_operations")
	p.opsInsert, _, _ = strings.Cut(p.opsUpsert, " ON CONFLICT ")
	p.execKnown = fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE execution_arn = $1)", pgx.Identifier{cfg.schema, "executions"}.Sanitize())
	p.execUpsert = upsertSQL(cfg.schema, schema.Executions, "")
	p.eventsInsert = eventsInsertSQL(cfg.schema)
	p.stageDDL = stageDDL
	return p, nil
}

// RedactError is err's message without the password of url, on one line.
func RedactError(err error, url string) string {
	msg := err.Error()
	if i := strings.Index(url, "://"); i >= 0 {
		if at := strings.LastIndex(url, "@"); at > i {
			if _, pw, ok := strings.Cut(url[i+3:at], ":"); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
	}
	return strings.Join(strings.Fields(msg), " ")
}

// upsertSQL is the statement that moves rows into table: from a staging
// table when from is set (in key order, one row per key), else from
// parameters $1..$n. Rows whose content (every column but run_id and
// extracted_at) is unchanged are left alone.
func upsertSQL(pgSchema string, t *schema.Table, from string) string {
	names := make([]string, len(t.Columns))
	var sets, cmpOld, cmpNew []string
	for i, c := range t.Columns {
		q := pgx.Identifier{c.Name}.Sanitize()
		names[i] = q
		if isKey(t, c.Name) {
			continue
		}
		sets = append(sets, q+" = EXCLUDED."+q)
		if c.Name != "run_id" && c.Name != "extracted_at" {
			cmpOld = append(cmpOld, "t."+q)
			cmpNew = append(cmpNew, "EXCLUDED."+q)
		}
	}
	keys := make([]string, len(t.PrimaryKey()))
	for i, k := range t.PrimaryKey() {
		keys[i] = pgx.Identifier{k}.Sanitize()
	}
	cols := strings.Join(names, ", ")
	var source string
	if from != "" {
		// DISTINCT ON keeps one row per key should a snapshot ever repeat an
		// operation id (the last by seq), so the upsert cannot fail on it.
		source = fmt.Sprintf("SELECT DISTINCT ON (%[1]s) %[2]s FROM %[3]s ORDER BY %[1]s, seq DESC", strings.Join(keys, ", "), cols, from)
	} else {
		ph := make([]string, len(names))
		for i := range ph {
			ph[i] = fmt.Sprintf("$%d", i+1)
		}
		source = "VALUES (" + strings.Join(ph, ", ") + ")"
	}
	return fmt.Sprintf("INSERT INTO %s AS t (%s) %s ON CONFLICT (%s) DO UPDATE SET %s WHERE (%s) IS DISTINCT FROM (%s)",
		pgx.Identifier{pgSchema, t.Name}.Sanitize(), cols, source, strings.Join(keys, ", "),
		strings.Join(sets, ", "), strings.Join(cmpOld, ", "), strings.Join(cmpNew, ", "))
}

// eventsInsertSQL moves staged events into the events table; events are
// immutable, so an event already there is left alone.
func eventsInsertSQL(pgSchema string) string {
	cols := make([]string, len(schema.Events.Columns))
	for i, c := range schema.Events.Columns {
		cols[i] = pgx.Identifier{c.Name}.Sanitize()
	}
	list := strings.Join(cols, ", ")
	return fmt.Sprintf("INSERT INTO %s (%s) SELECT DISTINCT ON (execution_arn, event_id) %s FROM etl_stage_events ORDER BY execution_arn, event_id ON CONFLICT (execution_arn, event_id) DO NOTHING",
		pgx.Identifier{pgSchema, "events"}.Sanitize(), list, list)
}

func isKey(t *schema.Table, col string) bool {
	for _, k := range t.PrimaryKey() {
		if k == col {
			return true
		}
	}
	return false
}

// Stats counts the rows inserted or changed.
func (p *Postgres) Stats() Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

// Close closes the pool. Committed executions are already durable.
func (p *Postgres) Close(ctx context.Context) error {
	p.pool.Close()
	return nil
}

// Begin acquires a connection and opens the execution's transaction.
func (p *Postgres) Begin(ctx context.Context, arn string) (Execution, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, p.wrap("connect", err)
	}
	if _, ok := p.stagedConns.Load(conn.Conn()); !ok {
		if _, err := conn.Exec(ctx, p.stageDDL); err != nil {
			conn.Release()
			return nil, p.wrap("stage", err)
		}
		p.stagedConns.Store(conn.Conn(), true)
	}
	tx, err := conn.Begin(ctx)
	if err != nil {
		conn.Release()
		return nil, p.wrap("begin", err)
	}
	return &pgExec{p: p, conn: conn, tx: tx}, nil
}

func (p *Postgres) wrap(what string, err error) error {
	return fmt.Errorf("destination %s: %s: %w", p.target, what, err)
}

type pgExec struct {
	p      *Postgres
	conn   *pgxpool.Conn
	tx     pgx.Tx
	rows   int64
	vals   [][]any
	events bool // events are staged
}

var operationColumns = func() []string {
	out := make([]string, len(schema.Operations.Columns))
	for i, c := range schema.Operations.Columns {
		out[i] = c.Name
	}
	return out
}()

// Write copies rows into the staging table, inside the transaction.
func (e *pgExec) Write(ctx context.Context, rows []schema.Operation) error {
	if len(rows) == 0 {
		return nil
	}
	_, err := e.tx.CopyFrom(ctx, pgx.Identifier{"etl_stage_operations"}, operationColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			vals, replaced := rowValues(&rows[i], e.scratch())
			if replaced {
				e.p.cfg.logger.Warn("postgres text cannot hold U+0000: stored as U+FFFD (the Parquet archive keeps it)",
					"execution_arn", rows[i].ExecutionArn, "operation_id", rows[i].OperationID)
			}
			return vals, nil
		}))
	if err != nil {
		return e.p.wrap("copy", err)
	}
	return nil
}

var eventColumns = func() []string {
	out := make([]string, len(schema.Events.Columns))
	for i, c := range schema.Events.Columns {
		out[i] = c.Name
	}
	return out
}()

// WriteEvents copies events rows into their staging table, inside the
// transaction; Commit inserts those the table lacks.
func (e *pgExec) WriteEvents(ctx context.Context, rows []schema.Event) error {
	if len(rows) == 0 {
		return nil
	}
	e.events = true
	vals := make([]any, len(eventColumns))
	_, err := e.tx.CopyFrom(ctx, pgx.Identifier{"etl_stage_events"}, eventColumns,
		pgx.CopyFromSlice(len(rows), func(i int) ([]any, error) {
			v, replaced := rowValues(&rows[i], vals)
			if replaced {
				e.p.cfg.logger.Warn("postgres text cannot hold U+0000: stored as U+FFFD (the Parquet archive keeps it)",
					"execution_arn", rows[i].ExecutionArn, "event_id", rows[i].EventID)
			}
			return v, nil
		}))
	if err != nil {
		return e.p.wrap("copy events", err)
	}
	return nil
}

func (e *pgExec) scratch() []any {
	if e.vals == nil {
		e.vals = [][]any{make([]any, len(operationColumns))}
	}
	return e.vals[0]
}

// nulReplacement stands in for U+0000, which Postgres text cannot hold.
const nulReplacement = "\uFFFD"

// rowValues fills dst with the row's fields in column order (the struct's
// field order is the column order, by construction of schema.Table). A
// U+0000 in any text becomes U+FFFD; replaced says whether one did.
func rowValues(row any, dst []any) (vals []any, replaced bool) {
	v := reflect.ValueOf(row).Elem()
	for i := range dst {
		f := v.Field(i).Interface()
		switch x := f.(type) {
		case string:
			if strings.IndexByte(x, 0) >= 0 {
				f, replaced = strings.ReplaceAll(x, "\x00", nulReplacement), true
			}
		case *string:
			if x != nil && strings.IndexByte(*x, 0) >= 0 {
				r := strings.ReplaceAll(*x, "\x00", nulReplacement)
				f, replaced = &r, true
			}
		case []string:
			copied := false
			for j, s := range x {
				if strings.IndexByte(s, 0) >= 0 {
					if !copied { // never change the caller's slice
						x, copied = append([]string(nil), x...), true
					}
					x[j], replaced = strings.ReplaceAll(s, "\x00", nulReplacement), true
				}
			}
			f = x
		}
		dst[i] = f
	}
	return dst, replaced
}

// Commit upserts the staged operations and the executions row, and commits.
// dt is not stored: Postgres needs no partitions.
func (e *pgExec) Commit(ctx context.Context, dt string, row schema.Execution) error {
	defer e.release()
	vals, _ := rowValues(&row, make([]any, len(schema.Executions.Columns)))
	var known bool
	if err := e.tx.QueryRow(ctx, e.p.execKnown, row.ExecutionArn).Scan(&known); err != nil {
		e.tx.Rollback(context.WithoutCancel(ctx))
		return e.p.wrap("upsert", err)
	}
	ops, ex, err := e.upsert(ctx, known, vals)
	if err != nil {
		e.tx.Rollback(context.WithoutCancel(ctx))
		return e.p.wrap("upsert", err)
	}
	if err := e.tx.Commit(ctx); err != nil {
		return e.p.wrap("commit", err)
	}
	e.p.mu.Lock()
	e.p.stats.Rows += ops.RowsAffected() + ex.RowsAffected()
	e.p.mu.Unlock()
	return nil
}

// upsert moves the staged rows into the tables, in one round trip. An
// execution the archive has never seen takes a plain INSERT, which skips
// ON CONFLICT's speculative insertion (the fresh-load fast path). Should a
// concurrent run insert the same execution first, the INSERT meets its keys,
// rolls back to the savepoint (the staged rows stay) and takes the upsert.
func (e *pgExec) upsert(ctx context.Context, known bool, vals []any) (ops, ex pgconn.CommandTag, err error) {
	batch := &pgx.Batch{}
	if !known {
		batch.Queue("SAVEPOINT etl_fresh")
		batch.Queue(e.p.opsInsert)
	} else {
		batch.Queue(e.p.opsUpsert)
	}
	if e.events {
		batch.Queue(e.p.eventsInsert)
	}
	batch.Queue(e.p.execUpsert, vals...)
	br := e.tx.SendBatch(ctx, batch)
	if !known {
		_, err = br.Exec()
	}
	if err == nil {
		ops, err = br.Exec()
	}
	if err == nil && e.events {
		var evs pgconn.CommandTag
		if evs, err = br.Exec(); err == nil {
			e.p.mu.Lock()
			e.p.stats.Rows += evs.RowsAffected()
			e.p.mu.Unlock()
		}
	}
	if err == nil {
		ex, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	var pgErr *pgconn.PgError
	if !known && errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation {
		if _, rerr := e.tx.Exec(ctx, "ROLLBACK TO SAVEPOINT etl_fresh"); rerr != nil {
			return ops, ex, rerr
		}
		return e.upsert(ctx, true, vals)
	}
	return ops, ex, err
}

// Abort rolls the execution back.
func (e *pgExec) Abort(ctx context.Context) error {
	if e.conn == nil {
		return nil
	}
	defer e.release()
	return e.tx.Rollback(context.WithoutCancel(ctx))
}

func (e *pgExec) release() {
	if e.conn != nil {
		e.conn.Release()
		e.conn = nil
	}
}

// RecordRun writes the run's row in SCHEMA.runs (inserting or updating it).
func (p *Postgres) RecordRun(ctx context.Context, r RunInfo) error {
	var finished *time.Time
	if !r.FinishedAt.IsZero() {
		finished = &r.FinishedAt
	}
	_, err := p.pool.Exec(ctx, fmt.Sprintf(`INSERT INTO %s (run_id, started_at, finished_at, status, executions_ok, executions_failed, operations, tool_version)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
ON CONFLICT (run_id) DO UPDATE SET finished_at = EXCLUDED.finished_at, status = EXCLUDED.status,
  executions_ok = EXCLUDED.executions_ok, executions_failed = EXCLUDED.executions_failed, operations = EXCLUDED.operations`,
		pgx.Identifier{p.cfg.schema, "runs"}.Sanitize()),
		r.RunID, r.StartedAt, finished, r.Status, r.ExecutionsOK, r.ExecutionsFailed, r.Operations, r.Version)
	if err != nil {
		return p.wrap("record run", err)
	}
	return nil
}

// Archived reads the executions table. Postgres holds one snapshot per
// execution and re-archiving is idempotent, so it reports terminal statuses
// only; resuming a run needs nothing more from it.
func (p *Postgres) Archived(ctx context.Context, runID string) (*Archived, error) {
	rows, err := p.pool.Query(ctx, "SELECT execution_arn, status, extracted_at, last_event_id FROM "+pgx.Identifier{p.cfg.schema, "executions"}.Sanitize())
	if err != nil {
		return nil, p.wrap("read what is archived", err)
	}
	defer rows.Close()
	a := newArchived()
	for rows.Next() {
		var arn string
		var status *string
		var at time.Time
		var last *int32
		if err := rows.Scan(&arn, &status, &at, &last); err != nil {
			return nil, p.wrap("read what is archived", err)
		}
		a.add(arn, status, at, false, last)
	}
	if err := rows.Err(); err != nil {
		return nil, p.wrap("read what is archived", err)
	}
	return a, nil
}
