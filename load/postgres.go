package load

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/durable-etl/durable-etl/internal/arnkey"
	"github.com/durable-etl/durable-etl/migrations"
	"github.com/durable-etl/durable-etl/schema"
)

// PostgresOption configures a [Postgres] loader.
type PostgresOption func(*postgresConfig)

type postgresConfig struct {
	schema   string
	maxConns int32
	migrate  bool
	readOnly bool
	logger   *slog.Logger
	tables   []*schema.Table // the child tables (tests declare more)
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

// WithReadOnly connects for reading only (etl verify): the role's right to
// write the tables is not checked (default: checked when connecting, see
// [NewPostgres]).
func WithReadOnly(on bool) PostgresOption { return func(c *postgresConfig) { c.readOnly = on } }

// WithPGLogger receives the loader's warnings, such as a U+0000 stored as
// U+FFFD (default: discard).
func WithPGLogger(l *slog.Logger) PostgresOption { return func(c *postgresConfig) { c.logger = l } }

// Postgres loads the archive into Postgres tables, one per table of
// schema/ (SCHEMA.operations, SCHEMA.events, SCHEMA.executions), keyed by
// each table's declared Key; every statement derives from the declaration.
//
// Each execution is one transaction on its own connection, which Begin
// opens asking whether the archive holds the execution. One it holds has
// its rows of each child table stream in with COPY into a temporary
// staging table of that table, and Commit moves them into the table with
// one INSERT ... SELECT ... ON CONFLICT DO UPDATE in key order (so
// concurrent runs cannot deadlock), then upserts the executions row and
// commits. One it has never seen (a backfill's every execution) has its
// rows COPYed straight into their tables, no staging table touched, as
// long as their keys do not repeat (see freshKeys); a concurrent run that
// inserted the same execution first fails the COPY or the INSERT, and the
// execution is archived again (a [Transient] error), then as one the
// archive holds. A reader never
// sees half an execution; a failed execution rolls back whole. A later
// snapshot updates the rows it contains and never deletes an operation
// seen before; one read without the execution's data (the service could
// not decrypt it) keeps the payloads archived before where the row has not
// moved on ([schema.DataKind]), so that a key made unusable for good costs
// no payload already archived. A row whose content is unchanged is not
// rewritten: run_id and extracted_at say which run last changed a row, so a
// rerun of the same manifest changes zero rows. An event (immutable in the
// API, and written once unless first read without its payloads) changes
// only so: its row then gets them.
type Postgres struct {
	pool   *pgxpool.Pool
	cfg    postgresConfig
	target string // redacted URL, for messages

	tables                []pgTable // the child tables
	execUpsert, execKnown string
	execUpsertKeep        string // execUpsert for a snapshot read without the execution's data
	// stageSQL makes, in an execution's transaction, the staging tables
	// its session lacks (see Begin); stageStmts are its statements, one
	// by one, for a batch.
	stageSQL   string
	stageStmts []string
	// held is the executions the archive held when the run read it
	// (Archived): the first 8 bytes of each one's arnkey, sorted. Begin
	// makes such an execution's staging tables in its first round trip.
	held atomic.Pointer[[]uint64]
	// restaged holds the ARNs whose COPY straight into the tables met a
	// key already there: archived again, they are staged (see Write).
	restaged sync.Map
	seed     maphash.Seed

	mu    sync.Mutex
	stats Stats
	// nulExecs and nulRows count the executions, and their rows, whose
	// text had U+0000 replaced (see pgExec.replacedNUL); under mu.
	nulExecs, nulRows int
}

// nulWarnings is how many executions with U+0000 replaced are each told at
// warn level; the others at debug, and Close sums them all up.
const nulWarnings = 10

// NewPostgres connects (checking the server is reachable and the schema is
// migrated, or migrating it with WithMigrate) before anything is fetched,
// and, unless WithReadOnly, that the role may do what a run does (see
// checkWritable): a role that may only read fails here, naming the
// grants it lacks, not at the run's first write. Errors name the URL with
// its password masked.
func NewPostgres(ctx context.Context, url string, opts ...PostgresOption) (*Postgres, error) {
	cfg := postgresConfig{schema: schema.DefaultPostgresSchema, maxConns: 8, logger: slog.New(slog.DiscardHandler), tables: schema.ChildTables()}
	for _, o := range opts {
		o(&cfg)
	}
	target := Redact(url)
	pcfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %s", target, RedactError(err, url))
	}
	pcfg.MaxConns = cfg.maxConns
	if _, given := pcfg.ConnConfig.RuntimeParams["application_name"]; !given { // by the URL or PGAPPNAME
		pcfg.ConnConfig.RuntimeParams["application_name"] = "durable-etl"
	}
	tables := make([]pgTable, len(cfg.tables))
	var ddl []string
	for i, t := range cfg.tables {
		tables[i] = newPGTable(cfg.schema, t)
		ddl = append(ddl, fmt.Sprintf("CREATE TEMP TABLE IF NOT EXISTS %s (LIKE %s) ON COMMIT DELETE ROWS",
			pgx.Identifier{tables[i].stage}.Sanitize(), pgx.Identifier{cfg.schema, t.Name}.Sanitize()))
	}
	// Every transaction that stages makes the staging tables its session
	// lacks (no notice of those it has): a session keeps them, empty at
	// every commit or rollback of a transaction that used one. Not once per
	// connection: through a pooler in transaction mode (PgBouncer's
	// pool_mode=transaction) each transaction may run in another server
	// session, which lacked them ("relation etl_stage_events does not
	// exist").
	stageStmts := append([]string{"SET LOCAL client_min_messages = warning"}, ddl...)
	stageSQL := strings.Join(stageStmts, "; ")
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	pool, err := pgxpool.NewWithConfig(ctx, pcfg)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %s", target, RedactError(err, url))
	}
	p := &Postgres{pool: pool, cfg: cfg, target: target, stageSQL: stageSQL, stageStmts: stageStmts, seed: maphash.MakeSeed()}
	err = pool.AcquireFunc(ctx, func(c *pgxpool.Conn) error {
		if cfg.migrate {
			applied := migrations.OnApply(func(version int32, name string) {
				cfg.logger.Info("applying a postgres migration", "destination", target, "schema", cfg.schema, "version", version, "migration", name)
			})
			if err := migrations.Migrate(ctx, c.Conn(), cfg.schema, applied); err != nil {
				return err
			}
		} else if err := migrations.Check(ctx, c.Conn(), cfg.schema); err != nil {
			return err
		}
		if cfg.readOnly {
			return nil
		}
		return checkWritable(ctx, c.Conn(), cfg.schema, cfg.tables)
	})
	if err != nil {
		pool.Close()
		var pending *migrations.PendingError
		if errors.As(err, &pending) {
			return nil, fmt.Errorf("destination %s: %w", target, err)
		}
		return nil, fmt.Errorf("destination %s: %s", target, RedactError(err, url))
	}
	p.tables = tables
	p.execKnown = fmt.Sprintf("SELECT EXISTS (SELECT 1 FROM %s WHERE execution_arn = $1)", pgx.Identifier{cfg.schema, schema.Executions.Name}.Sanitize())
	p.execUpsert = upsertSQL(cfg.schema, schema.Executions, "", false)
	p.execUpsertKeep = upsertSQL(cfg.schema, schema.Executions, "", true)
	return p, nil
}

// runsTable is the table of runs (migrations/001_tables.sql), the one
// table of the Postgres archive that schema/ does not declare.
const runsTable = "runs"

// checkWritable fails, in one line, when the server takes no writes (a
// standby, default_transaction_read_only), or, with the grants to give,
// when the connection's role may not do what a run does in pgSchema: read, insert
// and update every table (the child tables, executions, runs) and make
// temporary tables, the staging tables of every transaction (TEMP on the
// database). Without the check such a role got as far as the run's first
// write. A privilege on columns counts (has_any_column_privilege): the
// check refuses only a role that surely cannot write, never one whose
// grants are finer than a table's. (A role without USAGE on the schema
// does not get here: migrations.Check could not read the schema's version.)
func checkWritable(ctx context.Context, conn *pgx.Conn, pgSchema string, children []*schema.Table) error {
	names := []string{schema.Executions.Name, runsTable}
	for _, t := range children {
		names = append(names, t.Name)
	}
	var role, db string
	var temp, readOnly, standby bool
	var lacking []string
	err := conn.QueryRow(ctx, `SELECT current_user, current_database(), has_database_privilege(current_database(), 'TEMP'),
		current_setting('transaction_read_only') = 'on', pg_is_in_recovery(),
		coalesce((SELECT array_agg(format('%I.%I (%s)', $1::text, t, lacks) ORDER BY t) FROM (
			SELECT t, string_agg(p, ', ' ORDER BY o) AS lacks
			FROM unnest($2::text[]) AS t CROSS JOIN unnest(ARRAY['SELECT', 'INSERT', 'UPDATE']) WITH ORDINALITY AS p(p, o)
			WHERE NOT has_any_column_privilege(format('%I.%I', $1::text, t), p)
			GROUP BY t) AS l), '{}')`,
		pgSchema, names).Scan(&role, &db, &temp, &readOnly, &standby, &lacking)
	if err != nil {
		return fmt.Errorf("check the role's privileges: %w", err)
	}
	// A server that takes no writes failed the run only at its first
	// write, after the retries a failover's old primary is given (minutes).
	switch {
	case standby:
		return errors.New("the server is a standby, which takes no writes (a replica or a reader endpoint?): point --dest at the primary")
	case readOnly:
		return fmt.Errorf("the server takes no writes from role %s: default_transaction_read_only is on for the role or database %s", role, db)
	}
	missing, grants := lacking, []string(nil)
	if len(lacking) > 0 {
		grants = append(grants, fmt.Sprintf("GRANT SELECT, INSERT, UPDATE ON ALL TABLES IN SCHEMA %s TO %s", ident(pgSchema), ident(role)))
	}
	if !temp {
		missing = append(missing, "TEMP on database "+db)
		grants = append(grants, fmt.Sprintf("GRANT TEMP ON DATABASE %s TO %s", ident(db), ident(role)))
	}
	if len(missing) == 0 {
		return nil
	}
	return fmt.Errorf("role %s may not write the archive (it lacks %s): %s", role, strings.Join(missing, ", "), strings.Join(grants, "; "))
}

// ident quotes a name as an SQL identifier.
func ident(name string) string { return pgx.Identifier{name}.Sanitize() }

// pgTable is how a child table's rows reach Postgres, derived from its
// declaration.
type pgTable struct {
	t       *schema.Table
	stage   string   // the temporary staging table
	columns []string // in the declaration's order
	keys    []int    // the key columns' indexes, for warnings
	// rowKeys are those but execution_arn's, which all of an
	// execution's rows share (freshKeys).
	rowKeys []int
	// fresh moves the staged rows of an execution the archive has never
	// seen (a plain INSERT, skipping ON CONFLICT's speculative
	// insertion); known, of one it has; keep, of one it has, read
	// without the execution's data (see upsertSQL).
	fresh, known, keep string
}

func newPGTable(pgSchema string, t *schema.Table) pgTable {
	pt := pgTable{t: t, stage: "etl_stage_" + t.Name}
	for _, c := range t.Columns {
		pt.columns = append(pt.columns, c.Name)
	}
	for _, k := range t.Key {
		pt.keys = append(pt.keys, t.Column(k))
		if k != "execution_arn" {
			pt.rowKeys = append(pt.rowKeys, t.Column(k))
		}
	}
	pt.known = upsertSQL(pgSchema, t, pt.stage, false)
	pt.keep = upsertSQL(pgSchema, t, pt.stage, true)
	pt.fresh, _, _ = strings.Cut(pt.known, " ON CONFLICT ")
	return pt
}

// RedactError is err's message without the password of url, on one line,
// each of its lines once (pgx tells every connection attempt on a line of
// its own, and with sslmode prefer, the default, a server it cannot reach
// fails the same way twice, with TLS and without).
func RedactError(err error, url string) string {
	msg := err.Error()
	if i := strings.Index(url, "://"); i >= 0 {
		if at := strings.LastIndex(url, "@"); at > i {
			if _, pw, ok := strings.Cut(url[i+3:at], ":"); ok && pw != "" {
				msg = strings.ReplaceAll(msg, pw, "xxxxx")
			}
		}
	}
	var lines []string
	for _, l := range strings.Split(msg, "\n") {
		if l = strings.Join(strings.Fields(l), " "); l != "" && !slices.Contains(lines, l) {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, " ")
}

// upsertSQL is the statement that moves rows into table: from a staging
// table when from is set (in key order, one row per key), else from
// parameters $1..$n. Rows whose content (every column but run_id and
// extracted_at) is unchanged are left alone. With keepData (a snapshot read
// without the execution's data), a data column the row leaves out keeps the
// archived value as its [schema.DataKind] says: an input always, an outcome
// while the row's other columns (but those [schema.Table.DescribesRead]
// names) are as archived: [schema.KeepData] in SQL.
func upsertSQL(pgSchema string, t *schema.Table, from string, keepData bool) string {
	names := make([]string, len(t.Columns))
	var sets, cmpOld, cmpNew, stateOld, stateNew []string
	for _, c := range t.Columns {
		q := pgx.Identifier{c.Name}.Sanitize()
		if !isKey(t, c.Name) && t.StateColumn(c) {
			stateOld, stateNew = append(stateOld, "t."+q), append(stateNew, "EXCLUDED."+q)
		}
	}
	same := "TRUE"
	if len(stateOld) > 0 {
		same = fmt.Sprintf("(%s) IS NOT DISTINCT FROM (%s)", strings.Join(stateOld, ", "), strings.Join(stateNew, ", "))
	}
	for i, c := range t.Columns {
		q := pgx.Identifier{c.Name}.Sanitize()
		names[i] = q
		if isKey(t, c.Name) {
			continue
		}
		value := "EXCLUDED." + q
		switch {
		case !keepData:
		case c.Data == schema.DataInput:
			value = fmt.Sprintf("COALESCE(EXCLUDED.%s, t.%s)", q, q)
		case c.Data == schema.DataOutcome:
			value = fmt.Sprintf("CASE WHEN %s THEN t.%s ELSE EXCLUDED.%s END", same, q, q)
		}
		sets = append(sets, q+" = "+value)
		if c.Name != "run_id" && c.Name != "extracted_at" {
			cmpOld = append(cmpOld, "t."+q)
			cmpNew = append(cmpNew, value)
		}
	}
	keys := make([]string, len(t.PrimaryKey()))
	for i, k := range t.PrimaryKey() {
		keys[i] = pgx.Identifier{k}.Sanitize()
	}
	cols := strings.Join(names, ", ")
	var source string
	if from != "" {
		// DISTINCT ON keeps one row per key should a snapshot ever repeat a
		// key (an operation id: the last by seq), so the upsert cannot fail
		// on it.
		source = fmt.Sprintf("SELECT DISTINCT ON (%s) %s FROM %s ORDER BY %s", strings.Join(keys, ", "), cols, pgx.Identifier{from}.Sanitize(), orderBy(t, keys))
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

// orderBy is the ORDER BY of DISTINCT ON (keys): the keys, then the
// table's Order column, highest first.
func orderBy(t *schema.Table, keys []string) string {
	order := strings.Join(keys, ", ")
	if t.Order != "" {
		order += ", " + pgx.Identifier{t.Order}.Sanitize() + " DESC"
	}
	return order
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
	p.mu.Lock()
	execs, rows := p.nulExecs, p.nulRows
	p.mu.Unlock()
	if execs > nulWarnings {
		p.cfg.logger.Warn("postgres text cannot hold U+0000 or bytes that are not UTF-8: stored as U+FFFD (the Parquet archive keeps them); the first executions are told above, the rest at debug level",
			"executions", execs, "rows", rows)
	}
	return nil
}

// Begin acquires a connection and opens the execution's transaction in
// one round trip. An execution the archive held when the run read it
// (Archived), or whose keys an earlier try of this run met, is staged:
// the staging tables are made in that round trip. Of any other, it asks
// whether the archive holds it now (a run beside this one archived it):
// if so, it is staged too, at a round trip's cost.
func (p *Postgres) Begin(ctx context.Context, arn string) (Execution, error) {
	conn, err := p.pool.Acquire(ctx)
	if err != nil {
		return nil, p.wrap("connect", err)
	}
	e := &pgExec{p: p, conn: conn, arn: arn}
	_, restaged := p.restaged.Load(arn)
	staged := restaged || p.heldBefore(arn)
	batch := &pgx.Batch{}
	// READ COMMITTED whatever the role's default_transaction_isolation:
	// what the loader is built for (each execution lands whole by its
	// transaction alone), where SERIALIZABLE failed executions beside each
	// other for nothing (40001), each read from the API again.
	batch.Queue("BEGIN ISOLATION LEVEL READ COMMITTED")
	batch.Queue(unboundedStmt)
	if staged {
		for _, q := range p.stageStmts {
			batch.Queue(q)
		}
	} else {
		batch.Queue(p.execKnown, arn).QueryRow(func(r pgx.Row) error { return r.Scan(&e.known) })
	}
	if err := conn.SendBatch(ctx, batch).Close(); err != nil {
		e.Abort(ctx)
		return nil, p.wrap("begin", err)
	}
	switch {
	case staged:
		e.known, e.staging = true, true
	case e.known:
		if err := e.stage(ctx); err != nil {
			e.Abort(ctx)
			return nil, err
		}
	}
	return e, nil
}

// unboundedStmt lifts, for the transaction it runs in, the bounds a
// role or database may set on a statement and on a transaction waiting
// for its client (statement_timeout, idle_in_transaction_session_timeout),
// as pg_dump does for its session: an execution's COPY grows with its
// history, its transaction waits for the API's next page (longer when
// the API throttles), and a bound that cuts either short fails that
// execution every night until its history expires. A run is bounded by
// --deadline instead. SET LOCAL (set_config's true), not a session's SET:
// nothing outlives the transaction on a server session that a pooler
// shares with other clients. lock_timeout is left as set: a lock not had
// fails a try, which is tried again.
const unboundedStmt = "SELECT set_config('statement_timeout', '0', true), set_config('idle_in_transaction_session_timeout', '0', true)"

// beginRead begins a read-only transaction at iso whose statements no
// statement_timeout of the role's or database's cuts short
// (unboundedStmt): the reads of every executions row grow with the
// archive, an execution's rows with its history. BEGIN and unboundedStmt
// go as one simple query: one round trip, as a plain BEGIN took.
func (p *Postgres) beginRead(ctx context.Context, iso pgx.TxIsoLevel) (pgx.Tx, error) {
	return p.pool.BeginTx(ctx, pgx.TxOptions{BeginQuery: "BEGIN ISOLATION LEVEL " + string(iso) + " READ ONLY; " + unboundedStmt})
}

// heldBefore reports whether the archive held the execution arn when the
// run read it (Archived). Two ARNs whose keys share their first 8 bytes
// cost an execution never archived the staging tables, nothing more.
func (p *Postgres) heldBefore(arn string) bool {
	held := p.held.Load()
	if held == nil {
		return false
	}
	k := arnkey.Of(arn)
	_, found := slices.BinarySearch(*held, binary.BigEndian.Uint64(k[:8]))
	return found
}

// wrap names the destination and the step that failed; an error worth
// trying again (pgTransient) is marked [Transient].
func (p *Postgres) wrap(what string, err error) error {
	hint := ""
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && (pgErr.Code == pgerrcode.DuplicatePreparedStatement || pgErr.Code == pgerrcode.InvalidSQLStatementName) {
		// pgx's statement cache, through a pooler that hands each
		// transaction another server session.
		hint = " (through a pooler in transaction mode? add default_query_exec_mode=exec to the URL, or use PgBouncer 1.21+ with max_prepared_statements)"
	}
	err = fmt.Errorf("destination %s: %s: %w%s", p.target, what, err, hint)
	if pgTransient(err) {
		return &transientError{err}
	}
	return err
}

// pgExec is an execution's transaction, opened by Begin's BEGIN on conn
// and ended by the COMMIT at the end of Commit's batch or by Abort's
// ROLLBACK (pgx.Tx would spend a round trip on each).
type pgExec struct {
	p    *Postgres
	conn *pgxpool.Conn
	arn  string
	// known: the archive held the execution when the run read it
	// (Archived) or when Begin asked (its executions row), or an earlier
	// try of this run met its rows.
	known bool
	// staging: rows go to the staging tables (the transaction made them);
	// else straight into the tables, copied counting them.
	staging bool
	copied  int64
	keys    freshKeys
	staged  []bool // by table index: rows are staged
	// nuls counts the rows whose text had U+0000 replaced (U+FFFD);
	// firstNUL names the first of them, as "table key=value ...".
	nuls     int
	firstNUL string
}

// Write copies rows, inside the transaction, into their table's staging
// table, whence Commit moves them into the table; or, for an execution
// the archive has never seen, straight into the table while their keys
// do not repeat (freshKeys): rows whose keys repeat, and every row after
// them, are staged, and Commit's upsert lets a later row of a key replace
// an earlier one, as staging alone would. A COPY straight into a table
// that meets a key already there (a concurrent run archived the
// execution first) fails the execution as [Transient]; archived again,
// it is staged.
func (e *pgExec) Write(ctx context.Context, rows schema.Rows) error {
	i := slices.IndexFunc(e.p.tables, func(t pgTable) bool { return t.t == rows.Table() })
	if i < 0 {
		return e.p.wrap("copy", fmt.Errorf("no table %s to write rows to", rows.Table().Name))
	}
	if rows.Len() == 0 {
		return nil
	}
	pt := &e.p.tables[i]
	if !e.staging && !e.keys.add(e.p.seed, i, pt.rowKeys, rows) {
		if err := e.stage(ctx); err != nil {
			return err
		}
	}
	into := pgx.Identifier{e.p.cfg.schema, pt.t.Name}
	vals := make([]any, len(pt.columns))
	if e.staging {
		if e.staged == nil {
			e.staged = make([]bool, len(e.p.tables))
		}
		e.staged[i] = true
		into = pgx.Identifier{pt.stage}
	}
	n, err := e.conn.CopyFrom(ctx, into, pt.columns,
		pgx.CopyFromSlice(rows.Len(), func(k int) ([]any, error) {
			if storedValues(rows.Values(k, vals)) {
				e.replacedNUL(pt, vals)
			}
			return vals, nil
		}))
	if err != nil {
		if !e.staging {
			return e.metRows("copy "+pt.t.Name, err)
		}
		return e.p.wrap("copy "+pt.t.Name, err)
	}
	if !e.staging {
		e.copied += n
	}
	return nil
}

// metRows is err, the error of a statement of an execution taken for one
// the archive never held (step what), as a [Transient] one when the
// statement met a key already there (a concurrent run archived the
// execution first, or rows were left without an executions row): the ARN
// is remembered, so that the execution, archived again, is known and its
// rows staged and upserted.
func (e *pgExec) metRows(what string, err error) error {
	if pgErr := (*pgconn.PgError)(nil); errors.As(err, &pgErr) && pgErr.Code == pgerrcode.UniqueViolation {
		e.p.restaged.Store(e.arn, true)
		return &transientError{fmt.Errorf("destination %s: %s: the execution's rows are there already (archived beside this run?): %w", e.p.target, what, err)}
	}
	return e.p.wrap(what, err)
}

// stage makes the transaction's staging tables, which its session may
// lack, and sends the execution's rows there from now on.
func (e *pgExec) stage(ctx context.Context) error {
	if _, err := e.conn.Exec(ctx, e.p.stageSQL); err != nil {
		return e.p.wrap("make the staging tables", err)
	}
	e.staging = true
	return nil
}

// maxFreshKeys is how many keys of an execution's rows freshKeys holds:
// the rows past them are staged (a hash of 8 bytes a key in a Go map,
// a little over a MiB at most for each execution in flight).
const maxFreshKeys = 1 << 16

// freshKeys is the keys of the rows an execution has COPYed straight into
// their tables, hashed: a row whose key repeats one (a snapshot that
// lists an operation twice), or one past maxFreshKeys, is staged instead,
// so that a COPY never meets a key of its own execution. A hash that
// collides costs only that: rows staged that need not be.
type freshKeys struct {
	seen  map[uint64]struct{}
	buf   []byte
	batch []uint64 // the hashes add took of the batch so far
}

// add takes the keys of rows, a batch of table i (keys: its key columns'
// indexes, execution_arn's left out), and reports whether none repeats
// one taken before or another of the batch; when one does, or the batch
// would pass maxFreshKeys, nothing is taken.
func (k *freshKeys) add(seed maphash.Seed, table int, keys []int, rows schema.Rows) bool {
	if len(k.seen)+rows.Len() > maxFreshKeys {
		return false
	}
	if k.seen == nil {
		k.seen = make(map[uint64]struct{}, rows.Len())
	}
	k.batch = k.batch[:0]
	for r := range rows.Len() {
		k.buf = append(k.buf[:0], byte(table))
		for _, c := range keys {
			k.buf = append(k.buf, 0)
			switch v := rows.Value(r, c).(type) {
			case string: // as Postgres stores it (storedValues)
				k.buf = append(k.buf, strings.ReplaceAll(v, "\x00", nulReplacement)...)
			case int32:
				k.buf = strconv.AppendInt(k.buf, int64(v), 10)
			case int64:
				k.buf = strconv.AppendInt(k.buf, v, 10)
			default: // no key column is of another type today
				k.buf = fmt.Appendf(k.buf, "%v", v)
			}
		}
		h := maphash.Bytes(seed, k.buf)
		if _, seen := k.seen[h]; seen {
			for _, h := range k.batch {
				delete(k.seen, h)
			}
			return false
		}
		k.seen[h] = struct{}{}
		k.batch = append(k.batch, h)
	}
	return true
}

// replacedNUL counts a row of pt (vals) whose text had U+0000 replaced.
func (e *pgExec) replacedNUL(pt *pgTable, vals []any) {
	if e.nuls++; e.nuls > 1 {
		return
	}
	var b strings.Builder
	b.WriteString(pt.t.Name)
	for _, c := range pt.keys {
		if pt.columns[c] != "execution_arn" {
			fmt.Fprintf(&b, " %s=%v", pt.columns[c], reflect.Indirect(reflect.ValueOf(vals[c])))
		}
	}
	e.firstNUL = b.String()
}

// nulReplacement stands in for U+0000, which Postgres text cannot hold.
const nulReplacement = "\uFFFD"

// rowValues fills dst with the row's fields in column order (the struct's
// field order is the column order, by construction of schema.Table). A
// U+0000 in any text becomes U+FFFD; replaced says whether one did.
func rowValues(row any, dst []any) (vals []any, replaced bool) {
	v := reflect.ValueOf(row).Elem()
	for i := range dst {
		dst[i] = v.Field(i).Interface()
	}
	return dst, storedValues(dst)
}

// storedValues rewrites vals (a row's values, as schema.Rows.Values gives
// them) as Postgres stores them: a U+0000 in any text, or bytes that are
// not UTF-8 (which the SDK hands over as the wire had them, and Postgres
// refuses), become U+FFFD, in a copy (the row itself is left alone). It
// reports whether one did.
func storedValues(vals []any) (replaced bool) {
	for i, f := range vals {
		switch x := f.(type) {
		case string:
			if r, ok := storedText(x); ok {
				f, replaced = r, true
			}
		case *string:
			if x != nil {
				if r, ok := storedText(*x); ok {
					f, replaced = &r, true
				}
			}
		case []string:
			copied := false
			for j, s := range x {
				if r, ok := storedText(s); ok {
					if !copied { // never change the caller's slice
						x, copied = append([]string(nil), x...), true
					}
					x[j], replaced = r, true
				}
			}
			f = x
		}
		vals[i] = f
	}
	return replaced
}

// storedText is s as Postgres text holds it, and whether that differs:
// U+0000 and each run of bytes that are not UTF-8 as U+FFFD.
func storedText(s string) (string, bool) {
	if strings.IndexByte(s, 0) < 0 && utf8.ValidString(s) {
		return s, false
	}
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", nulReplacement), nulReplacement), true
}

// Commit upserts the staged operations and the executions row, and
// commits, in one round trip. On a failure the transaction is rolled back:
// nothing of the execution is archived.
// dt is not stored: Postgres needs no partitions.
func (e *pgExec) Commit(ctx context.Context, dt string, row schema.Execution) error {
	defer e.release()
	vals := schema.RowsOf(schema.Executions, []schema.Execution{row}).Values(0, make([]any, len(schema.Executions.Columns)))
	if storedValues(vals) {
		e.replacedNUL(&pgTable{t: schema.Executions}, vals)
	}
	// Staged rows of an execution the archive never saw are inserted
	// (the fresh path below), unless some of its rows went straight into
	// the tables already (or an earlier try met its rows: known): then
	// they are upserted over them.
	known := e.known || e.copied > 0
	changed, what, err := e.commit(ctx, known, row.ExecutionDataIncluded != nil && !*row.ExecutionDataIncluded, vals)
	changed += e.copied
	if err != nil {
		e.rollback(ctx)
		if !known {
			return e.metRows(what, err)
		}
		return e.p.wrap(what, err)
	}
	e.p.restaged.Delete(e.arn)
	e.p.mu.Lock()
	e.p.stats.Rows += changed
	level := slog.LevelWarn
	if e.nuls > 0 {
		e.p.nulExecs++
		e.p.nulRows += e.nuls
		if e.p.nulExecs > nulWarnings {
			level = slog.LevelDebug
		}
	}
	e.p.mu.Unlock()
	if e.nuls > 0 {
		// Once per execution (a payload with U+0000 is often in every
		// event of its history), at warn for the first few.
		e.p.cfg.logger.Log(ctx, level, "postgres text cannot hold U+0000 or bytes that are not UTF-8: stored as U+FFFD (the Parquet archive keeps them)",
			"execution_arn", row.ExecutionArn, "rows", e.nuls, "first", e.firstNUL)
	}
	return nil
}

// commit moves the staged rows into the tables, upserts the executions
// row and commits, in one round trip; on a failure it says which step
// failed ("upsert" or "commit") and leaves the transaction to be rolled
// back. An execution the archive has never seen takes a plain INSERT,
// which skips ON CONFLICT's speculative insertion; should a concurrent
// run have inserted the same execution first, it fails (Commit: metRows).
func (e *pgExec) commit(ctx context.Context, known, noData bool, vals []any) (changed int64, what string, err error) {
	batch := &pgx.Batch{}
	for i, staged := range e.staged {
		switch {
		case !staged:
		case known && noData:
			batch.Queue(e.p.tables[i].keep)
		case known:
			batch.Queue(e.p.tables[i].known)
		default:
			batch.Queue(e.p.tables[i].fresh)
		}
	}
	if noData {
		batch.Queue(e.p.execUpsertKeep, vals...)
	} else {
		batch.Queue(e.p.execUpsert, vals...)
	}
	// The statements before COMMIT ran, or it is skipped: the server skips
	// what follows a failed statement of a batch.
	batch.Queue("COMMIT")
	br := e.conn.SendBatch(ctx, batch)
	what = "upsert"
	for q := range batch.Len() {
		if q == batch.Len()-1 {
			what = "commit"
		}
		var tag pgconn.CommandTag
		if tag, err = br.Exec(); err != nil {
			break
		}
		if q == batch.Len()-1 && tag.String() == "ROLLBACK" { // as pgx.Tx's Commit checks
			err = pgx.ErrTxCommitRollback
			break
		}
		changed += tag.RowsAffected()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	return changed, what, err
}

// Abort rolls the execution back.
func (e *pgExec) Abort(ctx context.Context) error {
	if e.conn == nil {
		return nil
	}
	defer e.release()
	return e.rollback(ctx)
}

// rollback ends the transaction, whatever its state (a ROLLBACK after the
// transaction ended only warns). It goes on when ctx is done: the
// connection goes back to the pool only out of a transaction.
func (e *pgExec) rollback(ctx context.Context) error {
	_, err := e.conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	return err
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
		pgx.Identifier{p.cfg.schema, runsTable}.Sanitize()),
		r.RunID, r.StartedAt, finished, r.Status, r.ExecutionsOK, r.ExecutionsFailed, r.Operations, r.Version)
	if err != nil {
		return p.wrap("record run", err)
	}
	return nil
}

// Archived reads the executions table: Postgres holds one snapshot per
// execution, the newest, whose run_id says whether the run being resumed
// (runID) archived it.
func (p *Postgres) Archived(ctx context.Context, runID string) (*Archived, error) {
	return reread(ctx, p, "what is archived", func() (*Archived, error) { return p.archived(ctx, runID) })
}

func (p *Postgres) archived(ctx context.Context, runID string) (*Archived, error) {
	// The server compares run_id: a million rows' run ids need not cross
	// the wire and become strings to be compared once.
	// So too content_hash: its first 64 bits are all a run compares.
	tx, err := p.beginRead(ctx, pgx.ReadCommitted)
	if err != nil {
		return nil, p.wrap("read what is archived", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx)) // read only: nothing to keep
	rows, err := tx.Query(ctx, "SELECT execution_arn, status, extracted_at, last_event_id, event_count, execution_data_included, left(content_hash, 16), run_id = $1 FROM "+pgx.Identifier{p.cfg.schema, "executions"}.Sanitize(), runID)
	if err != nil {
		return nil, p.wrap("read what is archived", err)
	}
	defer rows.Close()
	a := newArchived()
	for rows.Next() {
		var r archivedRow
		var inRun bool
		var hash string
		if err := rows.Scan(&r.ExecutionArn, &r.Status, &r.ExtractedAt, &r.LastEventID, &r.EventCount, &r.DataIncluded, &hash, &inRun); err != nil {
			return nil, p.wrap("read what is archived", err)
		}
		r.ContentHash = contentPrefix(hash)
		a.add(&r, inRun)
	}
	if err := rows.Err(); err != nil {
		return nil, p.wrap("read what is archived", err)
	}
	a.seal()
	held := make([]uint64, 0, a.sorted)
	for _, e := range a.s[:a.sorted] { // sorted by key: their prefixes too
		held = append(held, binary.BigEndian.Uint64(e.key[:8]))
	}
	p.held.Store(&held)
	return a, nil
}
