package load

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io/fs"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/durable-etl/durable-etl/schema"
)

// IncomingDir is the folder under a destination that holds files being
// written. Its name starts with "_", so Athena, Hive and Spark skip it, and it
// sits outside the table folders, so that no glob over table/dt=*/ sees a
// partial file.
const IncomingDir = "_incoming"

// ParquetOption configures a [Parquet] loader.
type ParquetOption func(*parquetConfig)

type parquetConfig struct {
	codec       compress.Codec
	targetFile  int64
	rowGroup    int64
	budget      int64
	stageMemory int64
	stageBudget int64
	helpers     int
	helpAlways  bool // a new row group goes to a helper whenever one is free (tests)
	filePrefix  string
	createdBy   string
	logger      *slog.Logger
	tables      []*schema.Table // the child tables (tests declare more)
	// leaseRenewal is how often a lease's record is written again
	// (LeaseRenewal; tests shorten it), and renewed, if set, hears of each
	// renewal (tests).
	leaseRenewal time.Duration
	renewed      func(error)
}

// Compressions maps the --compression names to codecs.
var Compressions = map[string]compress.Codec{
	"zstd":   &zstdCodec{level: zstd.SpeedFastest},
	"snappy": &parquet.Snappy,
	"none":   &parquet.Uncompressed,
}

// WithCompression sets the page compression (default: zstd at its fastest
// level, which with the dictionary-encoded columns gives smaller files than
// zstd's default level without them, at a third less CPU; see
// docs/BENCHMARKS.md).
func WithCompression(c compress.Codec) ParquetOption {
	return func(p *parquetConfig) { p.codec = c }
}

// WithTargetFileSize rolls to a new file once one reaches about n bytes
// (default 256 MiB). Files close at an execution boundary, so one can exceed
// n by an execution's rows.
func WithTargetFileSize(n int64) ParquetOption {
	return func(p *parquetConfig) { p.targetFile = n }
}

// WithRowGroupSize ends a row group once about n bytes of row data are
// buffered (default 64 MiB of uncompressed values). It bounds the writer's
// memory per open file. Compaction ends its row groups once the writer
// holds n bytes of one, encoded (or at 64K rows).
func WithRowGroupSize(n int64) ParquetOption {
	return func(p *parquetConfig) { p.rowGroup = n }
}

// WithBufferBudget bounds the row data buffered across all open files
// and committed rows waiting for them (default 64 MiB). When half of it
// waits, the partitions holding the most (4 MiB or more) are written as
// row groups of their own, on a background goroutine; when all of it
// waits, the rest are spilled; and the file holding the most ends its row
// group when the open files pass it. Memory stays bounded however many
// partitions are open (a backfill over many days); row groups are then
// smaller than the row-group size (at most about half the budget).
func WithBufferBudget(n int64) ParquetOption { return func(p *parquetConfig) { p.budget = n } }

// WithStageMemory bounds the memory one execution's uncommitted rows may
// take (default 8 MiB); beyond it they spill to a temporary file under
// _incoming.
func WithStageMemory(n int64) ParquetOption {
	return func(p *parquetConfig) { p.stageMemory = n }
}

// WithStageBudget bounds the memory the uncommitted rows of all the
// executions in flight may take together (default 24 MiB): past it, an
// execution adding rows spills its stage, unless the stage holds under
// 256 KiB (small executions never spill). --concurrency 16 over executions
// of 100,000 events each staged 16 times the stage memory without it.
func WithStageBudget(n int64) ParquetOption {
	return func(p *parquetConfig) { p.stageBudget = n }
}

// minStageSpill is the least a stage holds before the stage budget makes
// it spill.
const minStageSpill = 256 << 10

// WithStageHelpers sets how many row groups of spilled stages may be
// encoded at once beyond one per spilled stage (default GOMAXPROCS-1, at
// most 2; 0 turns helpers off). A large execution's stage is encoded
// while it is read, one row group after another; when its rows come
// faster than one core encodes them (its operations' rows, all folded
// after its last history page), a row group goes to a helper, a goroutine
// of its own. Each helper holds about one row group (the stage memory)
// beyond the stage budget while it works. The files written are the same
// whatever the number.
func WithStageHelpers(n int) ParquetOption {
	return func(p *parquetConfig) { p.helpers = max(n, 0) }
}

// WithFilePrefix names the files: PREFIX-NNNNN.parquet (default "part").
// Give each run (and shard) its own prefix so that names never collide.
func WithFilePrefix(s string) ParquetOption { return func(p *parquetConfig) { p.filePrefix = s } }

// WithCreatedBy sets the files' created_by (default "durable-etl").
func WithCreatedBy(s string) ParquetOption { return func(p *parquetConfig) { p.createdBy = s } }

// WithLogger logs each published file at debug level (default: discard).
func WithLogger(l *slog.Logger) ParquetOption { return func(p *parquetConfig) { p.logger = l } }

// Parquet writes every table as Parquet files, to a local directory
// ([NewParquetDir]) or to S3 ([NewParquetS3]). Under a directory:
//
//	DIR/operations/dt=YYYY-MM-DD/PREFIX-NNNNN.parquet
//	DIR/executions/dt=YYYY-MM-DD/PREFIX-NNNNN.parquet
//
// Many executions share a file; a file is rolled at the target size (a
// partition that Close rolls names its next files PREFIX-NNNNN-rK.parquet,
// K counting from 1). A file
// is written under DIR/_incoming/ with a name starting with ".", synced, and
// renamed into its table folder only when complete: by the roll, or by
// Close. A crash leaves at most hidden files in _incoming and never a
// partial file in a table folder. Executions are staged until they commit,
// so an aborted execution leaves nothing.
//
// The files follow what Athena (engine v3) reads: snake_case columns,
// INT64 TIMESTAMP(MILLIS, UTC), 3-level LISTs, DataPage V1, bounded row
// groups, and no page statistics or bounds on the large text columns.
type Parquet struct {
	dir      string // the destination, for messages
	sink     fileSink
	spillDir string
	cfg      parquetConfig
	staged   atomic.Int64 // the bytes of the stages' rows in memory
	// stageSpills counts the stages that spilled (their files are unlinked
	// at once: this is how tests see them).
	stageSpills atomic.Int64
	// helpers holds a token per helper at work (see WithStageHelpers);
	// stageHelped counts the row groups they took (for the tests).
	helpers     chan struct{}
	stageHelped atomic.Int64
	// helperWriters keeps, per table, the writers helpers used, for the
	// next helper: a writer a row group large, made once per helper.
	helperWriters map[*schema.Table]freeList[schema.ParquetWriter]
	// segments counts the spill runs' segments: [0] in row form, [1]
	// Parquet files (for the tests).
	segments [2]atomic.Int64

	// tables are the tables the loader writes: schema.ChildTables(), then
	// schema.Executions, last (it publishes last); files holds their open
	// files, by the same index.
	tables []*schema.Table
	files  []*tableFiles
	opts   map[*schema.Table][]parquet.WriterOption // see writerOptions
	// writers keeps, per table, the writers of small published files for
	// the next ones (see createPart).
	writers     map[*schema.Table]freeList[schema.ParquetWriter]
	writersMade atomic.Int64 // writers made for published files (for the tests)

	// mu guards the partition buffer (pending, runs, background) and, while
	// no background work is under way, the open files (files, seq, groups,
	// buffered, flushers). Background work (see partitions.go) owns the
	// open files until it is waited for: nothing else touches them
	// meanwhile.
	mu       sync.Mutex
	seq      int
	groups   map[string]string // dt: the file name every table's open file shares
	buffered int64             // row bytes buffered in all open files' current row groups
	flushers map[string]flusher
	// pending holds committed rows by partition until they reach a file
	// (see partitions.go); runs are its spills.
	pending      map[string]*pendingDT
	pendingBytes int64
	runs         []*spillRun
	background   *backgroundWork // the rows being written to files or spilled, if any
	finished     []string        // partitions no more executions will reach (FinishPartition), not yet taken
	statsMu      sync.Mutex
	stats        Stats
	listMu       sync.Mutex
	listed       map[string]map[string][]publishedFile // verification's listings, by table and dt
	keyIndexes   map[string]map[string]*keyIndex       // verification's key indexes, by dt, then file and key columns
	keyIndexDTs  []string                              // their partitions, oldest first
	keyHash      func([]parquet.Value) uint64          // the key indexes' hash of a key's values (hashKey; tests make it collide)
	metaCache    map[string]map[string]string          // compaction: merged files' key-value metadata
	unreadable   map[string]bool                       // verification: files found not Parquet (Unreadable), under listMu
	closed       bool
	err          error // a failed write poisons the loader: later commits fail
}

// MissingLocalDirs lists the folders that opening dir with NewParquetDir
// and leasing a run there make and that are not there yet, deepest first:
// its _incoming and _runs folders, then dir and each missing folder above
// it. A caller that gives up before its run starts removes them again with
// os.Remove, deepest first, so that only folders still empty go.
func MissingLocalDirs(dir string) []string {
	exists := func(p string) bool {
		_, err := os.Lstat(p)
		return !errors.Is(err, fs.ErrNotExist)
	}
	var missing []string
	for _, sub := range []string{IncomingDir, RunsDir} {
		if p := filepath.Join(dir, sub); !exists(p) {
			missing = append(missing, p)
		}
	}
	for p := filepath.Clean(dir); !exists(p); p = filepath.Dir(p) {
		missing = append(missing, p)
		if filepath.Dir(p) == p {
			break
		}
	}
	return missing
}

// NewParquetDir prepares dir (creating it and its _incoming folder) and checks
// that it is writable; the error names dir.
func NewParquetDir(dir string, opts ...ParquetOption) (*Parquet, error) {
	if err := os.MkdirAll(filepath.Join(dir, IncomingDir), 0o755); err != nil {
		return nil, fmt.Errorf("destination %s: %w", dir, err)
	}
	probe, err := os.CreateTemp(filepath.Join(dir, IncomingDir), ".probe-*")
	if err != nil {
		return nil, fmt.Errorf("destination %s: not writable: %w", dir, err)
	}
	probe.Close()
	os.Remove(probe.Name())
	removeLeftovers(filepath.Join(dir, IncomingDir), time.Now().Add(-StaleIncomingAge))
	return newParquet(dir, &localSink{dir: dir}, filepath.Join(dir, IncomingDir), opts), nil
}

// OpenParquetDirForReading opens an existing archive under dir to read it
// (Latest, Rows, Archived): it writes nothing there, so a read-only archive
// will do; it fails when dir is not a directory. Of opts, those that
// concern reading apply (WithLogger: where a damaged or unreadable file is
// told).
func OpenParquetDirForReading(dir string, opts ...ParquetOption) (*Parquet, error) {
	info, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", dir, err)
	}
	if !info.IsDir() {
		return nil, fmt.Errorf("destination %s: not a directory", dir)
	}
	return newParquet(dir, &localSink{dir: dir}, os.TempDir(), opts), nil
}

// What lockState tells of a lock file.
const (
	lockUnknown = iota
	lockFree
	lockHeld
)

// StaleIncomingAge is how long a hidden file in _incoming that no live
// loader's lock vouches for (an older etl's, or one on a file system
// without locks) may go untouched before a new loader removes it as a
// killed run's leftover. Files being written are touched at every row
// group, far more often.
const StaleIncomingAge = 24 * time.Hour

// removeLeftovers removes from dir (a destination's _incoming) what
// killed loaders left there: at once, the files of an owner of this host
// whose lock file no process holds (see localSink), and that file; any
// other hidden file, but a live owner's, once untouched since cutoff.
func removeLeftovers(dir string, cutoff time.Time) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	host, _ := os.Hostname()
	const (
		unknown = iota // another host's, or cannot tell: cutoff
		live           // its lock is held
		gone           // of this host, its lock held by no process
	)
	owners := map[string]int{}
	for _, e := range entries {
		if id, ok := strings.CutPrefix(e.Name(), ownerPrefix); ok && !e.IsDir() {
			path := filepath.Join(dir, e.Name())
			b, err := os.ReadFile(path)
			switch lock := lockState(path); {
			case lock == lockHeld:
				owners[id] = live
			case err == nil && lock == lockFree && string(b) == host+"\n":
				owners[id] = gone
			}
		}
	}
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, ".") || e.IsDir() {
			continue
		}
		id, ok := strings.CutPrefix(name, ownerPrefix)
		if !ok {
			if rest, mine := strings.CutPrefix(name, ownerMark); mine {
				id, _, _ = strings.Cut(rest, ".")
			}
		}
		switch owners[id] {
		case live:
			continue
		case gone:
			os.Remove(filepath.Join(dir, name))
			continue
		}
		if info, err := e.Info(); err == nil && info.ModTime().Before(cutoff) {
			os.Remove(filepath.Join(dir, name))
		}
	}
}

func newParquet(dest string, sink fileSink, spillDir string, opts []ParquetOption) *Parquet {
	cfg := parquetConfig{codec: Compressions["zstd"], targetFile: 256 << 20, rowGroup: 64 << 20, budget: 64 << 20, stageMemory: 8 << 20, stageBudget: 24 << 20,
		helpers: min(runtime.GOMAXPROCS(0)-1, 2), filePrefix: "part", createdBy: "durable-etl", logger: slog.New(slog.DiscardHandler), tables: schema.ChildTables(),
		leaseRenewal: LeaseRenewal}
	for _, o := range opts {
		o(&cfg)
	}
	d := &Parquet{dir: dest, sink: sink, spillDir: spillDir, cfg: cfg, groups: map[string]string{}, flushers: map[string]flusher{},
		pending: map[string]*pendingDT{}, helpers: make(chan struct{}, cfg.helpers)}
	seed := maphash.MakeSeed()
	d.keyHash = func(k []parquet.Value) uint64 { return hashKey(seed, k) }
	d.tables = append(append([]*schema.Table(nil), cfg.tables...), schema.Executions)
	d.opts = map[*schema.Table][]parquet.WriterOption{}
	d.writers = map[*schema.Table]freeList[schema.ParquetWriter]{}
	d.helperWriters = map[*schema.Table]freeList[schema.ParquetWriter]{}
	for _, t := range d.tables {
		d.files = append(d.files, &tableFiles{d: d, table: t, open: map[string]*partFile{}})
		d.opts[t] = d.newWriterOptions(t)
		d.writers[t] = make(freeList[schema.ParquetWriter], pooledWriters)
		d.helperWriters[t] = make(freeList[schema.ParquetWriter], cfg.helpers)
	}
	return d
}

// execIndex is the executions table's index in d.tables and d.files.
func (d *Parquet) execIndex() int { return len(d.tables) - 1 }

// tableIndex is t's index in d.tables; an error for a table the loader does
// not write rows of (the executions table takes Commit's row).
func (d *Parquet) tableIndex(t *schema.Table) (int, error) {
	for i, c := range d.tables[:d.execIndex()] {
		if c == t {
			return i, nil
		}
	}
	return 0, fmt.Errorf("destination %s: no table %s to write rows to", d.dir, t.Name)
}

// discardDT drops dt's open files, unpublished.
func (d *Parquet) discardDT(dt string) {
	for _, t := range d.files {
		t.discardDT(dt)
	}
}

// Stats counts the files published so far.
func (d *Parquet) Stats() Stats {
	d.statsMu.Lock()
	defer d.statsMu.Unlock()
	return d.stats
}

// Begin stages a new execution.
func (d *Parquet) Begin(ctx context.Context, arn string) (Execution, error) {
	return &parquetExec{d: d, arn: arn}, nil
}

// Close publishes every open file. After an error the files that could not
// be completed are removed, never published.
func (d *Parquet) Close(ctx context.Context) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil
	}
	d.closed = true
	defer d.releaseSink()
	defer d.removeRuns()
	if err := d.waitBackground(); err != nil && d.err == nil {
		d.err = err
	}
	if d.err == nil {
		if err := d.drain(); err != nil && d.err == nil {
			d.err = err
		}
	}
	if d.err != nil {
		for dt := range d.groups {
			delete(d.groups, dt)
			d.discardDT(dt)
		}
		return d.err
	}
	return nil
}

// releaseSink tells a sink that can take the hint that none of its
// files is being written any more (a local directory's lock: see
// localSink).
func (d *Parquet) releaseSink() {
	if r, ok := d.sink.(interface{ release() }); ok {
		r.release()
	}
}

// writerOptions are the writer options of t's files, worked out once per
// table (a schema and its options cost more than a small file's rows: Close
// makes a writer per table per partition). The slice is clipped, so that a
// caller's append copies it.
func (d *Parquet) writerOptions(t *schema.Table) []parquet.WriterOption {
	if opts, ok := d.opts[t]; ok {
		return slices.Clip(opts)
	}
	return d.newWriterOptions(t)
}

func (d *Parquet) newWriterOptions(t *schema.Table) []parquet.WriterOption {
	return t.WriterOptions(parquet.Compression(d.cfg.codec), parquet.CreatedBy(d.cfg.createdBy, "", ""))
}

// tableFiles is one table's open files, one per partition.
type tableFiles struct {
	d     *Parquet
	table *schema.Table
	open  map[string]*partFile
}

type partFile struct {
	f        sinkFile
	w        schema.ParquetWriter
	table    *schema.Table
	name     string
	rows     int64
	buffered int64 // row bytes since the last row group ended
	largest  int64 // the most row bytes buffered at once
	shared   bool  // the table's own options: the writer may be kept
}

// wrote counts n bytes of row data buffered in the current row group.
func (pf *partFile) wrote(n int64) {
	pf.buffered += n
	pf.largest = max(pf.largest, pf.buffered)
}

// Writers of published files are kept for the next ones (pooledWriters per
// table) when their row groups never buffered more than pooledGroup bytes
// of row data: parquet-go's writer allocates its column buffers,
// dictionaries and pages afresh, which cost more than encoding a small
// partition's rows (BenchmarkSmallFileWriter: 300 operations, 1.0 ms with
// a new writer, 0.54 ms with a reset one). A kept writer keeps its
// buffers: closed, one that wrote 256 KiB of row data still holds about
// 2.3 MiB, one that wrote 1 MiB 5 MiB, 4 MiB 7.5 MiB. So only writers of
// small files are kept, two per table: about 30 MiB at most beyond the
// buffer budget. Two saved as much as four (a 730-day run by the binary,
// two runs each: 4.3-4.7 s with none, 4.0-4.3 with two, 4.1-4.4 with
// four; peak RSS the same). A reset writer writes the same bytes as a new
// one (see newWriterOptions and schema's TestResetWriterWritesTheSameBytes).
const (
	pooledWriters = 2
	pooledGroup   = 1 << 20
)

// createPart creates the file name of table in d's sink, with its writer:
// opts nil means the table's own options and a kept writer if there is one.
func (d *Parquet) createPart(table *schema.Table, name string, opts []parquet.WriterOption) (*partFile, error) {
	f, err := d.sink.create(name)
	if err != nil {
		return nil, fmt.Errorf("destination %s: %w", d.dir, err)
	}
	pf := &partFile{f: f, table: table, name: name, shared: opts == nil}
	if opts != nil {
		pf.w = table.NewParquetWriter(f, opts...)
		return pf, nil
	}
	var ok bool
	if pf.w, ok = d.writers[table].take(); ok {
		pf.w.Reset(f)
	} else {
		pf.w = table.NewParquetWriter(f, d.writerOptions(table)...)
		d.writersMade.Add(1)
	}
	return pf, nil
}

// release keeps pf's writer, once its file is closed, if it is small
// enough (see pooledGroup).
func (d *Parquet) release(pf *partFile) {
	if !pf.shared || pf.largest > pooledGroup {
		return
	}
	if d.writers[pf.table].give(pf.w) {
		pf.w = nil
	}
}

// write appends rows, of about bytes of row data, to dt's file. A row group
// ends once it holds the row-group size (so a group can exceed it by the
// last slice written), or earlier to keep the budget across open files.
// Called with d.mu held.
func (t *tableFiles) write(dt string, rows schema.Rows, bytes int64) error {
	return t.put(dt, int64(rows.Len()), bytes, func(w schema.ParquetWriter) error {
		_, err := w.Write(rows)
		return err
	})
}

// put writes n rows of about bytes of row data to dt's file (opened if
// need be) with fn, as write does.
func (t *tableFiles) put(dt string, n, bytes int64, fn func(schema.ParquetWriter) error) error {
	pf, err := t.file(dt)
	if err != nil {
		return err
	}
	if err := fn(pf.w); err != nil {
		return fmt.Errorf("destination %s: write %s: %w", t.d.dir, t.table.Name, err)
	}
	pf.rows += n
	pf.wrote(bytes)
	t.d.buffered += bytes
	if pf.buffered >= t.d.cfg.rowGroup {
		if err := pf.endRowGroup(t.d); err != nil {
			return err
		}
	}
	return t.d.keepBudget()
}

// file is dt's open file, opened if need be.
func (t *tableFiles) file(dt string) (*partFile, error) {
	if pf := t.open[dt]; pf != nil {
		return pf, nil
	}
	name := fmt.Sprintf("%s/%s=%s/%s", t.table.Name, schema.PartitionKey, dt, t.d.groupName(dt))
	pf, err := t.d.createPart(t.table, name, nil)
	if err != nil {
		return nil, err
	}
	t.open[dt] = pf
	t.d.flushers[name] = pf
	return pf, nil
}

// copyGroup copies rg, a row group of bytes of row data written with the
// table's options, into dt's file as it is: a row group of its own, after
// the rows the file buffers (parquet-go ends their row group first).
// Called with d.mu held.
func (t *tableFiles) copyGroup(dt string, rg parquet.RowGroup, bytes int64) error {
	pf, err := t.file(dt)
	if err != nil {
		return err
	}
	if _, err := pf.w.WriteRowGroup(rg); err != nil {
		return fmt.Errorf("destination %s: write %s: %w", t.d.dir, t.table.Name, err)
	}
	pf.rows += rg.NumRows()
	t.d.buffered -= pf.buffered
	pf.buffered = 0
	// Counted as a row group of that size, so that the writer of a file
	// that copied a large one is not kept (see release).
	pf.largest = max(pf.largest, bytes)
	return nil
}

// flusher is an open file whose row group can be ended early.
type flusher interface {
	bufferedBytes() int64
	endRowGroup(d *Parquet) error
}

func (pf *partFile) bufferedBytes() int64 { return pf.buffered }

func (pf *partFile) endRowGroup(d *Parquet) error {
	if err := pf.w.Flush(); err != nil {
		return fmt.Errorf("destination %s: write %s: %w", d.dir, pf.name, err)
	}
	d.buffered -= pf.buffered
	pf.buffered = 0
	return nil
}

// keepBudget ends the row groups of the files holding the most until the
// buffered row data is within the budget.
func (d *Parquet) keepBudget() error {
	for d.buffered > d.cfg.budget {
		var biggest flusher
		for _, f := range d.flushers {
			if biggest == nil || f.bufferedBytes() > biggest.bufferedBytes() {
				biggest = f
			}
		}
		if biggest == nil || biggest.bufferedBytes() == 0 {
			return nil
		}
		if err := biggest.endRowGroup(d); err != nil {
			return err
		}
	}
	return nil
}

// groupName is the file name dt's open files share in every table; a new
// one after they are published.
func (d *Parquet) groupName(dt string) string {
	if name, ok := d.groups[dt]; ok {
		return name
	}
	d.seq++
	name := fmt.Sprintf("%s-%05d.parquet", d.cfg.filePrefix, d.seq)
	d.groups[dt] = name
	return name
}

// roll publishes the partitions whose files reached the target size, in
// partition order, each through Close's publication path (group.publish:
// the operations and events files, then the executions file, so that an
// executions row is never visible before its operations and events; a
// kill between leaves operations or events files without their executions
// sibling, which a resumed run removes: see Archived). Called at an
// execution boundary by whoever owns the open files: a commit under d.mu,
// or the background work; the caller poisons the loader on failure.
func (d *Parquet) roll() error {
	for _, dt := range slices.Sorted(maps.Keys(d.groups)) {
		if d.reachedTarget(dt) {
			if err := d.detachGroup(dt).publish(nil); err != nil {
				return err
			}
		}
	}
	return nil
}

// reachedTarget reports whether one of dt's open files reached the target
// size.
func (d *Parquet) reachedTarget(dt string) bool {
	for _, t := range d.files {
		if t.size(dt) >= d.cfg.targetFile {
			return true
		}
	}
	return false
}

func (t *tableFiles) size(dt string) int64 {
	if pf := t.open[dt]; pf != nil {
		return pf.w.Size()
	}
	return 0
}

func (t *tableFiles) discardDT(dt string) {
	if pf := t.open[dt]; pf != nil {
		t.forget(dt, pf)
		pf.f.discard()
	}
}

func (t *tableFiles) forget(dt string, pf *partFile) {
	delete(t.open, dt)
	delete(t.d.flushers, pf.name)
	t.d.buffered -= pf.buffered
}

// finishFile closes pf's writer and publishes its file; it touches nothing
// shared but the logger, so files of different partitions can be finished
// at once.
func finishFile(d *Parquet, pf *partFile) (int64, error) {
	if err := pf.w.Close(); err != nil {
		pf.f.discard()
		return 0, fmt.Errorf("destination %s: publish %s: %w", d.dir, pf.name, err)
	}
	d.release(pf)
	return publishClosed(d, pf)
}

// publishClosed publishes pf, whose writer is closed (finishFile's second
// half: on S3 the upload's end, the network's time alone).
func publishClosed(d *Parquet, pf *partFile) (int64, error) {
	size, err := pf.f.publish()
	if err != nil {
		return 0, fmt.Errorf("destination %s: publish %s: %w", d.dir, pf.name, err)
	}
	d.cfg.logger.Debug("published parquet file", "name", pf.name, "rows", pf.rows, "bytes", size)
	return size, nil
}

// count adds a published file to the stats.
func (d *Parquet) count(rows, size int64) {
	d.statsMu.Lock()
	d.stats.Files++
	d.stats.Bytes += size
	d.stats.Rows += rows
	d.statsMu.Unlock()
}

func syncDir(dir string) error {
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return f.Sync()
}

// parquetExec stages one execution's rows until it commits.
type parquetExec struct {
	d      *Parquet
	arn    string
	stages []stage // by table index (child tables only)
	done   bool
	held   *eventsHeld // ReadHeldEvents'; nil without the call
}

// eventsHeld is what ReadHeldEvents learnt: the events the destination
// held of the execution, sorted by event_id, each as its newest row (the
// one the _latest views read), and how their rows were hashed, for
// WriteLost to hash its rows alike.
type eventsHeld struct {
	events []heldEvent
	seed   maphash.Seed
	skip   []bool // by column: those that say how a row was read
	idCol  int    // event_id's
}

// holds reports whether the destination held row i of rows (events)
// as its newest row of that event: by event_id, then by the hash of its
// content (h, seeded as the held rows were hashed).
func (he *eventsHeld) holds(rows schema.Rows, i int, h *maphash.Hash) bool {
	id := rows.Value(i, he.idCol).(int32)
	j, found := slices.BinarySearchFunc(he.events, id, func(held heldEvent, id int32) int { return cmp.Compare(held.id, id) })
	return found && he.events[j].hash == schema.HashRowOf(rows, i, h, he.skip)
}

// heldEvent is an events row a destination holds: its key's event_id and
// the hash of what it holds (schema.HashRow, leaving out the columns that
// say how it was read, which a new read changes).
type heldEvent struct {
	id   int32
	hash uint64
}

// heldRow is a heldEvent as read, with what orders an event's rows (the
// _latest views' ORDER BY: extracted_at, then run_id, newest first): 24
// bytes, the run_id an index into the few a partition holds.
type heldRow struct {
	hash      uint64
	extracted int64 // ms, as stored
	id, run   int32
}

// ReadHeldEvents reads the execution's events rows in the events files
// of dt published so far: WriteLost leaves out an event whose newest
// row held (the one the _latest views read) is as it is written, and
// writes one held otherwise (altered in the archive since, read then
// without its payloads, or by an etl without the members or columns it
// has now), whose newer row is then the event (see [LostEventsWriter]).
// A file that vanishes while read (a compaction beside the run) is read
// again on a new listing. A file
// that is not Parquet etl can read (a stray or damaged one, which the
// run's ledger left out too) may hold some of them: then none is left
// out (the kept ones are held twice, which the _latest views and
// compaction hide, rather than lost), and the log says so. Any other
// failure to read fails the call, naming the file.
func (e *parquetExec) ReadHeldEvents(ctx context.Context, dt string) error {
	var held []heldRow
	// Its rows are taken to be few of the partition's (an estimate of
	// none): each file is then read by its key index, on S3 through
	// ranges, not downloaded whole for every execution mended.
	none := int64(0)
	st := ExecutionState{Arn: e.arn, DT: dt, EventCount: &none}
	// The columns that say how a row was read differ between two reads
	// of the same content (schema.Table.DescribesRead).
	he := &eventsHeld{seed: maphash.MakeSeed(), skip: make([]bool, len(schema.Events.Columns)), idCol: schema.Events.Column("event_id")}
	for i, c := range schema.Events.Columns {
		he.skip[i] = schema.Events.DescribesRead(c.Name)
	}
	var h maphash.Hash
	h.SetSeed(he.seed)
	var runs []string // by heldRow.run
	err := ListedAgain(func() error {
		held, runs = held[:0], runs[:0]
		index := map[string]int32{}
		last := int32(-1) // a file's rows come a run at a time
		return e.d.EachRow(ctx, st, nil, nil, func(ev *schema.Event) {
			if last < 0 || runs[last] != ev.RunID {
				var ok bool
				if last, ok = index[ev.RunID]; !ok {
					last = int32(len(runs))
					runs = append(runs, strings.Clone(ev.RunID))
					index[runs[last]] = last
				}
			}
			held = append(held, heldRow{schema.HashRow(schema.Events, &h, ev, he.skip), ev.ExtractedAt.UnixMilli(), ev.EventID, last})
		})
	})
	if np := notParquet(err); np != nil {
		e.d.cfg.logger.Warn("events written again whole: a file of the partition cannot be read to tell which it holds", "execution_arn", e.arn, "file", e.d.shown(np.Name), "reason", np.Err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("read the events archived of %s: %w", e.arn, err)
	}
	// An event held twice is held as its newest row: one altered since
	// is written again even where an older row is as the service has it.
	slices.SortFunc(held, func(a, b heldRow) int {
		return cmp.Or(cmp.Compare(a.id, b.id), cmp.Compare(b.extracted, a.extracted), strings.Compare(runs[b.run], runs[a.run]))
	})
	held = slices.CompactFunc(held, func(a, b heldRow) bool { return a.id == b.id })
	he.events = make([]heldEvent, len(held))
	for i, r := range held {
		he.events[i] = heldEvent{r.id, r.hash}
	}
	e.held = he
	return nil
}

// Write stages rows of a child table.
func (e *parquetExec) Write(ctx context.Context, rows schema.Rows) error {
	if e.done {
		return errors.New("write after commit or abort")
	}
	i, err := e.d.tableIndex(rows.Table())
	if err != nil {
		return err
	}
	if e.stages == nil {
		e.stages = make([]stage, e.d.execIndex())
	}
	if e.stages[i].ended {
		return fmt.Errorf("write of %s after its end", rows.Table().Name)
	}
	e.stages[i].table = rows.Table()
	return e.stages[i].add(e.d, rows, rows.Size())
}

// WriteLost stages those of rows (events) whose newest row ReadHeldEvents
// did not find as they are, and returns how many.
func (e *parquetExec) WriteLost(ctx context.Context, rows schema.Rows) (int, error) {
	if e.held != nil && len(e.held.events) > 0 && rows.Table() == schema.Events {
		var h maphash.Hash
		h.SetSeed(e.held.seed)
		rows = schema.Filter(rows, func(i int) bool { return !e.held.holds(rows, i, &h) })
		if rows.Len() == 0 {
			return 0, nil
		}
	}
	return rows.Len(), e.Write(ctx, rows)
}

// EndTable ends t's spill file, if its stage spilled: its last row group
// encoded and its helper, if any, free for other stages (see [TableEnder]).
func (e *parquetExec) EndTable(ctx context.Context, t *schema.Table) error {
	i, err := e.d.tableIndex(t)
	if err != nil {
		return err
	}
	if e.stages == nil {
		e.stages = make([]stage, e.d.execIndex())
	}
	e.stages[i].ended = true
	return e.stages[i].closeSpill()
}

// Commit moves the staged rows and the executions row into dt's files. When
// a file write fails, the loader is poisoned: its open files are dropped at
// Close (published files stay) and later commits fail.
func (e *parquetExec) Commit(ctx context.Context, dt string, row schema.Execution) error {
	if e.done {
		return errors.New("commit after commit or abort")
	}
	defer e.Abort(ctx)
	d := e.d
	spilled := false
	for i := range e.stages {
		if err := e.stages[i].closeSpill(); err != nil {
			return err
		}
		spilled = spilled || e.stages[i].spill != nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.err != nil {
		return d.err
	}
	if d.closed {
		return errors.New("commit after close")
	}
	err := func() error {
		if !spilled {
			// The usual case: the rows wait with their partition's.
			pages := make([][]stagedPage, d.execIndex())
			for i := range e.stages {
				pages[i], e.stages[i].pages = e.stages[i].pages, nil // the buffer owns them now
			}
			// Files grow only in background work, which rolls them.
			return d.addPending(dt, pages, row)
		}
		// An execution large enough to spill its stage fills row groups on
		// its own: straight to its partition's files, after the rows that
		// wait there.
		if err := d.waitBackground(); err != nil {
			return err
		}
		if err := d.flushPending(dt); err != nil {
			return err
		}
		for i := range e.stages {
			if err := e.stages[i].moveTo(d.files[i], dt); err != nil {
				return err
			}
		}
		execs := schema.RowsOf(schema.Executions, []schema.Execution{row})
		if err := d.files[d.execIndex()].write(dt, execs, execs.Size()); err != nil {
			return err
		}
		return d.roll()
	}()
	if err != nil && d.err == nil {
		d.err = err
	}
	return err
}

func (e *parquetExec) Abort(ctx context.Context) error {
	e.done = true
	for i := range e.stages {
		e.stages[i].drop(e.d)
	}
	return nil
}
