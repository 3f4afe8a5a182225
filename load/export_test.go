package load

import (
	"context"
	"io"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// RowValuesForTest is rowValues for an operations row.
func RowValuesForTest(row *schema.Operation) ([]any, bool) {
	return rowValues(row, make([]any, len(schema.Operations.Columns)))
}

// WithTablesForTest makes a Parquet loader write these child tables
// instead of schema.ChildTables(): a test's own table needs no loader code.
func WithTablesForTest(ts ...*schema.Table) ParquetOption {
	return func(c *parquetConfig) { c.tables = ts }
}

// WithPGTablesForTest is WithTablesForTest for a Postgres loader.
func WithPGTablesForTest(ts ...*schema.Table) PostgresOption {
	return func(c *postgresConfig) { c.tables = ts }
}

// WithLeaseRenewalForTest renews a lease's record every d, and calls
// renewed after each renewal.
func WithLeaseRenewalForTest(d time.Duration, renewed func(error)) ParquetOption {
	return func(c *parquetConfig) { c.leaseRenewal, c.renewed = d, renewed }
}

// WritersMadeForTest is how many writers d made for published files (the
// others were reset ones).
func WritersMadeForTest(d *Parquet) int64 { return d.writersMade.Load() }

// TestFile exposes a sink file to the tests.
type TestFile struct{ f sinkFile }

func (f TestFile) Write(p []byte) (int, error) { return f.f.Write(p) }
func (f TestFile) Publish() (int64, error)     { return f.f.publish() }
func (f TestFile) Discard()                    { f.f.discard() }

// TestSink exposes a sink to the tests.
type TestSink struct{ s fileSink }

func (s TestSink) Create(name string) (TestFile, error) {
	f, err := s.s.create(name)
	return TestFile{f}, err
}

// S3SinkForTest is the S3 sink NewParquetS3 builds, without its checks.
func S3SinkForTest(client S3API, bucket, prefix string, so S3Options) TestSink {
	if so.PartSize == 0 {
		so.PartSize = 8 << 20
	}
	if so.Concurrency == 0 {
		so.Concurrency = 2
	}
	return TestSink{&s3Sink{client: client, bucket: bucket, prefix: prefix, opts: so,
		tm: transfermanager.New(client, func(o *transfermanager.Options) {
			o.PartSizeBytes = so.PartSize
			o.MultipartUploadThreshold = so.PartSize
			o.Concurrency = so.Concurrency
		})}}
}

// StopAfterPublish makes Compact stop as if killed after publishing a
// partition's merged files and before removing the files they replace.
func StopAfterPublish(o *CompactOptions) { o.stopAfterPublish = true }

// OnChildUploadsWait makes Compact call f whenever a partition's merge
// begins to wait for its merged child tables' files to be published.
func OnChildUploadsWait(o *CompactOptions, f func()) { o.onChildUploadsWait = f }

// OnKeysReserved makes Compact call f after each reservation of the
// keys' memory (KeyMemory) with its bytes and what every holder holds
// then; calls may overlap.
func OnKeysReserved(o *CompactOptions, f func(n, held int64)) { o.onKeysReserved = f }

// PublishedBytesForTest is every published file of a Parquet destination
// (l a *Parquet), by name under the destination; nil for another kind.
func PublishedBytesForTest(ctx context.Context, l Loader) (map[string][]byte, error) {
	d, ok := l.(*Parquet)
	if !ok {
		return nil, nil
	}
	out := map[string][]byte{}
	for _, table := range []string{"operations/", "events/", "executions/"} {
		files, err := d.sink.list(ctx, table)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			err := d.sink.read(ctx, f.name, func(r io.ReaderAt, size int64) error {
				b := make([]byte, size)
				_, err := r.ReadAt(b, 0)
				if err == io.EOF {
					err = nil
				}
				out[f.name] = b
				return err
			})
			if err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// SetKeyHashForTest replaces the key indexes' hash of d (to make keys
// collide); KeyHashForTest is the one it has.
func (d *Parquet) SetKeyHashForTest(h func([]parquet.Value) uint64) { d.keyHash = h }
func (d *Parquet) KeyHashForTest() func([]parquet.Value) uint64     { return d.keyHash }

// KeyIndexedPartitionsForTest is how many partitions' key indexes d holds.
func (d *Parquet) KeyIndexedPartitionsForTest() int {
	d.listMu.Lock()
	defer d.listMu.Unlock()
	return len(d.keyIndexes)
}

// KeyIndexedFilesForTest is how many files of table d holds key indexes
// of.
func (d *Parquet) KeyIndexedFilesForTest(table string) int {
	d.listMu.Lock()
	defer d.listMu.Unlock()
	n := 0
	for _, byFile := range d.keyIndexes {
		for id := range byFile {
			if strings.HasPrefix(id, table+"/") {
				n++
			}
		}
	}
	return n
}

// StageSpills is how many executions' stages d spilled to a file.
func StageSpills(d *Parquet) int64 { return d.stageSpills.Load() }

// FinishBatch is how many finished partitions are published together.
const FinishBatch = finishBatch

// StagedBytes is the row data d's stages hold in memory, by its count.
func StagedBytes(d *Parquet) int64 { return d.staged.Load() }

// StageHelped is how many row groups of spilled stages d's helpers encoded.
func StageHelped(d *Parquet) int64 { return d.stageHelped.Load() }

// WithHelpersAlways gives a spilled stage's new row group to a helper
// whenever one is free, busy or not the stage's own lane.
func WithHelpersAlways() ParquetOption { return func(p *parquetConfig) { p.helpAlways = true } }

// RangedAboveForTest is the size above which a projection's read of a
// published file on S3 goes through ranged GETs.
const RangedAboveForTest = rangedAbove

// KeptMostForTest is the most downloaded files a partition's compaction
// keeps.
const KeptMostForTest = keptMost

// DrainWorkersForTest is how many partitions Close finishes at once.
const DrainWorkersForTest = drainWorkers
