package load_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
)

func getObject(t *testing.T, c *s3.Client, bucket, key string) []byte {
	t.Helper()
	out, err := c.GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	defer out.Body.Close()
	b, err := io.ReadAll(out.Body)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestS3AndLocalTwin: one extraction to S3 and to a directory gives the same
// layout and byte-identical files, and leaves no upload behind.
func TestS3AndLocalTwin(t *testing.T) {
	srv3, bucket := s3test.Bucket(t)
	client := srv3.Client()
	ctx := context.Background()
	execs := emulator.Generate(51, 40, emulator.GenerateOptions{MaxOps: 200, LargePayloadEvery: 300})
	emu := emulator.New()
	emu.Add(execs...)
	_, lambdaClient := emulatortest.Start(t, emu)
	opts := []load.ParquetOption{load.WithFilePrefix("part-twin"), load.WithRowGroupSize(256 << 10)}
	s3l, err := load.NewParquetS3(ctx, client, bucket, "archive/v1", t.TempDir(), load.S3Options{PartSize: 5 << 20}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	local, err := load.NewParquetDir(dir, opts...)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	emulator.WriteManifest(&b, execs)
	m, _ := extract.NewManifest("m", []byte(b.String()))
	sum, err := pipeline.Run(ctx, pipeline.Config{API: lambdaClient, Loader: load.Fanout(s3l, local), RunID: "twin"}, m)
	if err != nil || sum.ExecutionsFailed > 0 {
		t.Fatalf("%v %v", err, sum.Failures)
	}
	keys := s3test.Keys(t, srv3, bucket, "archive/v1/")
	var files []string
	filepath.Walk(dir, func(p string, info os.FileInfo, err error) error {
		if err == nil && !info.IsDir() && strings.HasSuffix(p, ".parquet") {
			rel, _ := filepath.Rel(dir, p)
			files = append(files, "archive/v1/"+filepath.ToSlash(rel))
		}
		return nil
	})
	sort.Strings(keys)
	sort.Strings(files)
	if strings.Join(keys, "\n") != strings.Join(files, "\n") || len(keys) == 0 {
		t.Fatalf("S3 keys\n%s\nlocal files\n%s", strings.Join(keys, "\n"), strings.Join(files, "\n"))
	}
	for _, k := range keys {
		want, _ := os.ReadFile(filepath.Join(dir, strings.TrimPrefix(k, "archive/v1/")))
		if !bytes.Equal(getObject(t, client, bucket, k), want) {
			t.Errorf("%s differs from its local twin", k)
		}
	}
	if up := s3test.Uploads(t, srv3, bucket); len(up) != 0 {
		t.Errorf("uploads left: %v", up)
	}
}

// TestS3FileVisibility: a file becomes an object only when published (a
// multipart upload, here), and a discarded one leaves neither an object nor
// an upload.
func TestS3FileVisibility(t *testing.T) {
	srv3, bucket := s3test.Bucket(t)
	client := srv3.Client()
	ctx := context.Background()
	big := make([]byte, 12<<20) // incompressible: more than two parts
	rand.Read(big)
	for _, publish := range []bool{true, false} {
		sink := load.S3SinkForTest(client, bucket, "p", load.S3Options{PartSize: 5 << 20, Concurrency: 2})
		f, err := sink.Create("operations/dt=2026-01-01/f.parquet")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(big); err != nil {
			t.Fatal(err)
		}
		if keys := s3test.Keys(t, srv3, bucket, "p/"); len(keys) != 0 {
			t.Fatalf("visible before completion: %v", keys)
		}
		if len(s3test.Uploads(t, srv3, bucket)) != 1 {
			t.Fatal("12 MiB written, yet no multipart upload in progress")
		}
		if publish {
			size, err := f.Publish()
			if err != nil || size != int64(len(big)) {
				t.Fatalf("publish: %d %v", size, err)
			}
			if !bytes.Equal(getObject(t, client, bucket, "p/operations/dt=2026-01-01/f.parquet"), big) {
				t.Fatal("object differs from what was written")
			}
			client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String("p/operations/dt=2026-01-01/f.parquet")})
		} else {
			f.Discard()
			if keys := s3test.Keys(t, srv3, bucket, "p/"); len(keys) != 0 {
				t.Fatalf("a discarded file is visible: %v", keys)
			}
		}
		if up := s3test.Uploads(t, srv3, bucket); len(up) != 0 {
			t.Fatalf("publish=%v left uploads: %v", publish, up)
		}
	}
}

func TestS3StaleUploadsAborted(t *testing.T) {
	srv3, bucket := s3test.Bucket(t)
	client := srv3.Client()
	ctx := context.Background()
	for _, key := range []string{"arch/operations/dt=2026-01-01/killed.parquet", "elsewhere/keep.parquet"} {
		if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
			t.Fatal(err)
		}
	}
	// An age of one nanosecond makes every upload already begun stale.
	if _, err := load.NewParquetS3(ctx, client, bucket, "arch", t.TempDir(), load.S3Options{StaleUploadAge: time.Nanosecond}); err != nil {
		t.Fatal(err)
	}
	if up := s3test.Uploads(t, srv3, bucket); len(up) != 1 || up[0] != "elsewhere/keep.parquet" {
		t.Errorf("uploads after cleanup: %v (only the prefix's should go)", up)
	}
}

func TestS3SSE(t *testing.T) {
	srv3, bucket := s3test.Bucket(t)
	client := srv3.Client()
	sink := load.S3SinkForTest(client, bucket, "", load.S3Options{SSE: "AES256"})
	f, _ := sink.Create("executions/dt=2026-01-01/x.parquet")
	f.Write([]byte("PAR1"))
	if _, err := f.Publish(); err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(context.Background(), &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String("executions/dt=2026-01-01/x.parquet")})
	if err != nil || head.ServerSideEncryption != types.ServerSideEncryptionAes256 {
		t.Fatalf("SSE %q, %v", head.ServerSideEncryption, err)
	}
}

func TestS3BadDestination(t *testing.T) {
	srv3, _ := s3test.Bucket(t)
	ctx := context.Background()
	_, err := load.NewParquetS3(ctx, srv3.Client(), "no-such-bucket-here", "p", "", load.S3Options{})
	if err == nil || !strings.Contains(err.Error(), "no such bucket") || !strings.Contains(err.Error(), "s3://no-such-bucket-here/p") {
		t.Errorf("missing bucket: %v", err)
	}
	bad := srv3
	bad.SecretKey = "wrong-secret"
	_, err = load.NewParquetS3(ctx, bad.Client(), "any", "p", "", load.S3Options{})
	if err == nil || !strings.Contains(err.Error(), "access denied") || strings.Contains(err.Error(), "wrong-secret") {
		t.Errorf("wrong credentials: %v", err)
	}
	if _, err = load.NewParquetS3(ctx, srv3.Client(), "any", "p", "", load.S3Options{SSE: "rot13"}); err == nil {
		t.Error("an unknown SSE mode was accepted")
	}
}

// countingS3 counts the GETs, whole and ranged, and records the keys of
// the objects downloaded whole.
type countingS3 struct {
	*s3.Client
	whole, ranged atomic.Int64
	mu            sync.Mutex
	keys          []string // downloaded whole, in order
}

func (c *countingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	if in.Range != nil {
		c.ranged.Add(1)
	} else {
		c.whole.Add(1)
		c.mu.Lock()
		c.keys = append(c.keys, aws.ToString(in.Key))
		c.mu.Unlock()
	}
	return c.Client.GetObject(ctx, in, opts...)
}

// TestRowsOnS3ReadsRanges: on S3, Rows of a few executions of a partition
// of many row groups reads ranges of the objects where it needs a small part
// of them, and gives exactly those executions' rows.
func TestRowsOnS3ReadsRanges(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	c := &countingS3{Client: srv.Client()}
	n := 200
	if testing.Short() { // the race run
		n = 70
	}
	execs := emulator.Generate(64, n, emulator.GenerateOptions{MinOps: 5, MaxOps: 80, Days: 1, LargePayloadEvery: -1})
	pq, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{}, load.WithRowGroupSize(48<<10), load.WithBufferBudget(256<<10))
	if err != nil {
		t.Fatal(err)
	}
	commitAll(t, execs, pq)
	rd, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	latest, err := rd.Latest(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	c.whole.Store(0)
	c.ranged.Store(0)
	byDT := map[string][]load.ExecutionState{}
	events := map[string]int{}
	for i, e := range execs {
		if i%17 == 3 {
			st := latest[e.ARN]
			byDT[st.DT] = append(byDT[st.DT], st)
			events[e.ARN] = e.History.Len()
		}
	}
	filesRead := 0
	for dt, states := range byDT {
		for _, table := range []string{"executions", "operations", "events"} {
			filesRead += len(s3test.Keys(t, srv, bucket, "archive/"+table+"/dt="+dt+"/"))
		}
		got, err := rd.Rows(ctx, states)
		if err != nil {
			t.Fatal(err)
		}
		for _, st := range states {
			g := got[st.Arn]
			if g.Execution == nil || g.Execution.RunID != st.RunID || g.Execution.OperationCount != st.OperationCount {
				t.Errorf("%s: executions row %+v, want the snapshot %+v", st.Arn, g.Execution, st)
			}
			if int64(len(g.Operations)) != st.OperationCount || len(g.Events) != events[st.Arn] {
				t.Errorf("%s: %d operations and %d events, want %d and %d", st.Arn, len(g.Operations), len(g.Events), st.OperationCount, events[st.Arn])
			}
			for i, r := range g.Operations {
				if r.ExecutionArn != st.Arn || r.Seq != int64(i) {
					t.Fatalf("%s: operation %d is %s seq %d", st.Arn, i, r.ExecutionArn, r.Seq)
				}
			}
		}
	}
	// Every file's footer is read through ranges; a file read in part is
	// never fetched whole.
	if c.ranged.Load() == 0 || c.whole.Load() >= int64(filesRead) {
		t.Errorf("%d whole GETs and %d ranged for %d files: none read in part", c.whole.Load(), c.ranged.Load(), filesRead)
	}
}

// TestArchivedOnS3ReadsRanges: a run's start reads the ledger's few
// columns of a large executions object (its rows carry payloads) by
// ranges, never the whole object, and finds every execution in it.
func TestArchivedOnS3ReadsRanges(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	c := &countingS3{Client: srv.Client()}
	pq, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 11, 1, 0, 0, 0, 0, time.UTC)
	const n = 120
	payload := func() *string { // incompressible: 64 KiB of base64
		b := make([]byte, 48<<10)
		rand.Read(b)
		s := base64.StdEncoding.EncodeToString(b)
		return &s
	}
	for i := range n {
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:f:1/durable-execution/e-%d/%d", i, i)
		status := "SUCCEEDED"
		x, err := pq.Begin(ctx, arn)
		if err != nil {
			t.Fatal(err)
		}
		row := schema.Execution{ExecutionArn: arn, Status: &status, InputPayload: payload(), Result: payload(), ContentHash: "h", Source: "history", RunID: "r", ExtractedAt: at}
		if err := x.Commit(ctx, "2026-11-01", row); err != nil {
			t.Fatal(err)
		}
	}
	if err := pq.Close(ctx); err != nil {
		t.Fatal(err)
	}
	size := s3test.Size(t, srv, bucket, "archive/executions/")
	if size < 2*(4<<20) {
		t.Fatalf("the executions objects hold %d bytes: too few to tell ranges from the whole", size)
	}
	rd, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	c.whole.Store(0)
	c.ranged.Store(0)
	a, err := rd.Archived(ctx, "next")
	if err != nil {
		t.Fatal(err)
	}
	if a.Len() != n {
		t.Errorf("%d executions archived, want %d", a.Len(), n)
	}
	if reason, skip := a.Skip("arn:aws:lambda:us-east-1:123456789012:function:f:1/durable-execution/e-7/7", false); !skip || reason != "terminal" {
		t.Errorf("a terminal execution is not skipped (%q)", reason)
	}
	// Ranged GETs are of 1 MiB at most.
	t.Logf("%d ranged GETs for %d bytes of executions objects", c.ranged.Load(), size)
	if w, r := c.whole.Load(), c.ranged.Load(); w != 0 || r == 0 || r<<20 > size/2 {
		t.Errorf("%d whole GETs and %d ranged ones for %d bytes of executions objects: want ranges, well under the whole", w, r, size)
	}
}

// TestS3UploadsOfALiveRunKept: a run's file of a large partition is a
// multipart upload open for hours; a loader started beside it (a
// compaction, a shard) two hours later must leave it, and a day later
// takes it for a killed run's.
func TestS3UploadsOfALiveRunKept(t *testing.T) {
	srv3, bucket := s3test.Bucket(t)
	client := srv3.Client()
	ctx := context.Background()
	key := "arch/operations/dt=2026-01-01/part-live-0123456789ab-00001.parquet"
	if _, err := client.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String(bucket), Key: aws.String(key)}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		later time.Duration
		kept  bool
	}{{2 * time.Hour, true}, {load.DefaultStaleUploadAge + time.Hour, false}} {
		now := func() time.Time { return time.Now().Add(c.later) }
		if _, err := load.NewParquetS3(ctx, client, bucket, "arch", t.TempDir(), load.S3Options{Now: now}); err != nil {
			t.Fatal(err)
		}
		if up := s3test.Uploads(t, srv3, bucket); (len(up) == 1) != c.kept {
			t.Errorf("a loader started %v after the upload began: uploads %v, want it kept: %v", c.later, up, c.kept)
		}
	}
}

// TestArchivedOnS3LeavesOutWhatIsNotParquet: objects under a table's
// prefix that are not Parquet, small (read whole) or large (read by
// ranges), are left out of what the archive holds and named
// (Archived.Unreadable); the rest is read as ever.
func TestArchivedOnS3LeavesOutWhatIsNotParquet(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	pq, err := load.NewParquetS3(ctx, srv.Client(), bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:lambda:us-east-1:123456789012:function:f:1/durable-execution/e-1/1"
	status := "SUCCEEDED"
	x, err := pq.Begin(ctx, arn)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Commit(ctx, "2026-11-01", schema.Execution{ExecutionArn: arn, Status: &status, ContentHash: "h", Source: "history", RunID: "r", ExtractedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	if err := pq.Close(ctx); err != nil {
		t.Fatal(err)
	}
	for key, size := range map[string]int{"archive/executions/dt=2026-11-01/small.parquet": 100, "archive/executions/dt=2026-11-02/large.parquet": 5 << 20} {
		if _, err := srv.Client().PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &key, Body: bytes.NewReader(make([]byte, size))}); err != nil {
			t.Fatal(err)
		}
	}
	rd, err := load.NewParquetS3(ctx, srv.Client(), bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := rd.Archived(ctx, "next")
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(a.Unreadable)
	if len(a.Unreadable) != 2 || !strings.HasSuffix(a.Unreadable[0], "small.parquet") || !strings.HasSuffix(a.Unreadable[1], "large.parquet") {
		t.Errorf("unreadable %v: want both objects named", a.Unreadable)
	}
	if _, skip := a.Skip(arn, false); a.Len() != 1 || !skip {
		t.Errorf("%d executions known, the archived one skipped %v: want it read as ever", a.Len(), skip)
	}
}

// cuttingS3 breaks off the body of the first GET of each object or range
// half way (the reader fails with io.ErrUnexpectedEOF), as a connection
// reset mid-download does, after the SDK's retryer is done.
type cuttingS3 struct {
	*s3.Client
	mu   sync.Mutex
	seen map[string]bool
	cut  atomic.Int64
}

func (c *cuttingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	out, err := c.Client.GetObject(ctx, in, opts...)
	if err != nil {
		return out, err
	}
	c.mu.Lock()
	k := aws.ToString(in.Key) + " " + aws.ToString(in.Range)
	again := c.seen[k]
	c.seen[k] = true
	c.mu.Unlock()
	if again {
		return out, nil
	}
	c.cut.Add(1)
	n := aws.ToInt64(out.ContentLength) / 2
	out.Body = struct {
		io.Reader
		io.Closer
	}{io.MultiReader(io.LimitReader(out.Body, n), iotest.ErrReader(io.ErrUnexpectedEOF)), out.Body}
	return out, nil
}

// commitInHalves archives execs under bucket/archive through two loaders
// (files part-0-... and part-1-...), their executions alternating, so
// that a partition both reach holds two files a table.
func commitInHalves(t *testing.T, srv s3test.Server, bucket string, execs []emulator.Execution) {
	t.Helper()
	var halves [2][]emulator.Execution
	for i, e := range execs {
		halves[i%2] = append(halves[i%2], e)
	}
	for i, half := range halves {
		pq, err := load.NewParquetS3(context.Background(), srv.Client(), bucket, "archive", t.TempDir(), load.S3Options{}, load.WithFilePrefix(fmt.Sprint("part-", i)))
		if err != nil {
			t.Fatal(err)
		}
		commitAll(t, half, pq)
	}
}

// TestS3DownloadsThatBreakOff: a download whose body breaks off is made
// again: reading the ledger and executions' rows (ranges) and compacting
// (whole objects) through a store that cuts each first download give
// what they give through one that does not.
func TestS3DownloadsThatBreakOff(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	execs := emulator.Generate(66, 40, emulator.GenerateOptions{MinOps: 5, MaxOps: 60, Days: 3})
	commitInHalves(t, srv, bucket, execs) // two files a table, for compaction to merge
	read := func(c load.S3API) (*load.Archived, map[string]*load.ExecutionRows) {
		rd, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
		if err != nil {
			t.Fatal(err)
		}
		a, err := rd.Archived(ctx, "next")
		if err != nil {
			t.Fatalf("archived: %v", err)
		}
		latest, err := rd.Latest(ctx, nil)
		if err != nil {
			t.Fatal(err)
		}
		byDT := map[string][]load.ExecutionState{} // Rows reads one partition
		for _, st := range latest {
			byDT[st.DT] = append(byDT[st.DT], st)
		}
		rows := map[string]*load.ExecutionRows{}
		for _, states := range byDT {
			got, err := rd.Rows(ctx, states)
			if err != nil {
				t.Fatalf("rows: %v", err)
			}
			maps.Copy(rows, got)
		}
		return a, rows
	}
	wantArchived, wantRows := read(srv.Client())
	c := &cuttingS3{Client: srv.Client(), seen: map[string]bool{}}
	a, rows := read(c)
	if c.cut.Load() == 0 || a.Len() != wantArchived.Len() || !reflect.DeepEqual(rows, wantRows) {
		t.Errorf("%d bodies cut: %d executions archived, rows equal %v: want %d, equal", c.cut.Load(), a.Len(), reflect.DeepEqual(rows, wantRows), wantArchived.Len())
	}
	c = &cuttingS3{Client: srv.Client(), seen: map[string]bool{}}
	cp, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	cut := c.cut.Load()
	st, err := cp.Compact(ctx, load.CompactOptions{KeepLatest: true}) // two files a table merged: nothing superseded
	if err != nil || st.Partitions == 0 || c.cut.Load() == cut {
		t.Fatalf("compact: %+v, %v, %d bodies cut", st, err, c.cut.Load()-cut)
	}
	if _, rows := read(srv.Client()); !reflect.DeepEqual(rows, wantRows) {
		t.Error("the compacted archive's rows differ")
	}
}

// TestCompactOnS3ReadsFootersByRanges: compacting again an archive of
// large merged files (nothing left to merge) reads what it must of them
// (their key-value metadata, or their key columns) through ranges: no
// object above the ranged reads' threshold is downloaded whole, as each
// merged file was every night before; and a merge keeping the latest
// downloads each large input whole once, not also for its keys.
func TestCompactOnS3ReadsFootersByRanges(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	// Two loaders' files a table (one start date, the executions split
	// between them), one operation in three with an incompressible 256 KiB
	// result: each file, and the merged one more so, is larger than a
	// ranged read's threshold.
	execs := emulator.Generate(67, 40, emulator.GenerateOptions{MinOps: 20, MaxOps: 40, Days: 1, LargePayloadEvery: 3, RandomPayloads: true})
	commitInHalves(t, srv, bucket, execs)
	runFiles := map[string]int64{}
	for _, k := range s3test.Keys(t, srv, bucket, "archive/operations/") {
		out, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		runFiles[k] = aws.ToInt64(out.ContentLength)
	}
	mc := &countingS3{Client: srv.Client()}
	merge, err := load.NewParquetS3(ctx, mc, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := merge.Compact(ctx, load.CompactOptions{KeepLatest: true}); err != nil || st.Partitions == 0 {
		t.Fatalf("merge: %+v %v", st, err)
	}
	// Keeping the latest, a large file's key columns are read through
	// ranges: it is downloaded whole once, to be merged.
	whole := map[string]int{}
	for _, k := range mc.keys {
		whole[k]++
	}
	for k, size := range runFiles {
		if size <= load.RangedAboveForTest {
			t.Fatalf("%s: a run's operations file of %d bytes: not large", k, size)
		}
		if whole[k] != 1 {
			t.Errorf("%s (%d bytes) downloaded whole %d times to be merged, want once", k, size, whole[k])
		}
	}
	sizes := map[string]int64{}
	large := 0
	for _, k := range s3test.Keys(t, srv, bucket, "archive/") {
		out, err := srv.Client().HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(bucket), Key: aws.String(k)})
		if err != nil {
			t.Fatal(err)
		}
		sizes[k] = aws.ToInt64(out.ContentLength)
		if strings.Contains(k, "/compact-") && sizes[k] > load.RangedAboveForTest {
			large++
		}
	}
	if large == 0 {
		t.Fatalf("no merged file over %d bytes: %v", load.RangedAboveForTest, sizes)
	}
	for _, keep := range []bool{false, true} {
		c := &countingS3{Client: srv.Client()}
		cp, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
		if err != nil {
			t.Fatal(err)
		}
		if st, err := cp.Compact(ctx, load.CompactOptions{KeepLatest: keep}); err != nil || st.Partitions != 0 {
			t.Fatalf("again, keep latest %v: %+v %v", keep, st, err)
		}
		for _, k := range c.keys {
			if sizes[k] > load.RangedAboveForTest {
				t.Errorf("keep latest %v: %s (%d bytes) downloaded whole to compact again", keep, k, sizes[k])
			}
		}
	}
}

// TestCompactOnS3DownloadsAFileOnce: merging a partition keeping the
// latest reads its executions files three times (the payload-keeping
// ledger columns, the key columns, every column) and the others twice:
// on S3 each small file is downloaded once all the same; so it is with
// the keys indexed a share at a time (KeyMemory), each share's passes
// reading them again, and the _latest rows are the same.
func TestCompactOnS3DownloadsAFileOnce(t *testing.T) {
	for _, keys := range []int64{0, 2 << 10} {
		t.Run(fmt.Sprint("key memory ", keys), func(t *testing.T) { compactOnS3DownloadsAFileOnce(t, keys) })
	}
}

func compactOnS3DownloadsAFileOnce(t *testing.T, keys int64) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	commitInHalves(t, srv, bucket, emulator.Generate(70, 30, emulator.GenerateOptions{MinOps: 5, MaxOps: 30, Days: 3}))
	before := latestOnS3(t, srv, bucket)
	c := &countingS3{Client: srv.Client()}
	cp, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cp.Compact(ctx, load.CompactOptions{KeepLatest: true, KeyMemory: keys})
	if err != nil || st.Partitions == 0 {
		t.Fatalf("%+v, %v", st, err)
	}
	if after := latestOnS3(t, srv, bucket); !reflect.DeepEqual(after, before) {
		t.Errorf("the newest snapshots differ after the merge: %d executions, had %d", len(after), len(before))
	}
	got := map[string]int{}
	for _, k := range c.keys {
		if strings.Contains(k, "/dt=") {
			got[k]++
		}
	}
	if len(got) != st.FilesIn {
		t.Errorf("%d files downloaded, %d merged", len(got), st.FilesIn)
	}
	for k, n := range got {
		if n != 1 {
			t.Errorf("%s downloaded %d times", k, n)
		}
	}
}

// TestCompactOnS3KeepsAtMostSoManyDownloads: a partition of more small
// files than a compaction keeps downloaded (open files) merges all the
// same: the files past the bound are downloaded again for each pass,
// those within it once, and the rows come whole.
func TestCompactOnS3KeepsAtMostSoManyDownloads(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	execs := emulator.Generate(71, load.KeptMostForTest/3+6, emulator.GenerateOptions{MinOps: 3, MaxOps: 8, Days: 1})
	for i, e := range execs { // one loader an execution: three files each, one partition
		pq, err := load.NewParquetS3(ctx, srv.Client(), bucket, "archive", t.TempDir(), load.S3Options{}, load.WithFilePrefix(fmt.Sprint("part-", i)))
		if err != nil {
			t.Fatal(err)
		}
		commitAll(t, []emulator.Execution{e}, pq)
	}
	latest := func() map[string]load.ExecutionState { return latestOnS3(t, srv, bucket) }
	before := latest()
	c := &countingS3{Client: srv.Client()}
	cp, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cp.Compact(ctx, load.CompactOptions{KeepLatest: true})
	if err != nil || st.Partitions != 1 || st.FilesIn != 3*len(execs) || st.FilesOut != 3 {
		t.Fatalf("%+v, %v: want %d files merged into 3", st, err, 3*len(execs))
	}
	got := map[string]int{}
	for _, k := range c.keys {
		got[k]++
	}
	once := 0
	for _, n := range got {
		if n == 1 {
			once++
		}
	}
	if len(got) != st.FilesIn || once != load.KeptMostForTest {
		t.Errorf("%d files downloaded, %d of them once: want %d, %d once", len(got), once, st.FilesIn, load.KeptMostForTest)
	}
	if after := latest(); len(after) != len(execs) || !reflect.DeepEqual(after, before) {
		t.Errorf("the newest snapshots differ after the merge: %d executions, want %d", len(after), len(execs))
	}
}

// latestOnS3 is the newest snapshot of each execution in the archive under
// "archive" in bucket, read by a loader of its own.
func latestOnS3(t *testing.T, srv s3test.Server, bucket string) map[string]load.ExecutionState {
	t.Helper()
	rd, err := load.NewParquetS3(context.Background(), srv.Client(), bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	l, err := rd.Latest(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// pairing holds the first call of a kind until a second one is made
// while it waits (or until a minute has passed: then it says it was made
// alone), and lets every later call through.
type pairing struct {
	first   sync.Once
	waiting chan struct{} // closed by the second call
	second  sync.Once
	alone   atomic.Bool
}

func newPairing() *pairing { return &pairing{waiting: make(chan struct{})} }

// call is made at the start of each call; it returns once the call may go
// on, and reports whether it was the first.
func (p *pairing) call() bool {
	isFirst := false
	p.first.Do(func() { isFirst = true })
	if isFirst {
		select {
		case <-p.waiting:
		case <-time.After(time.Minute):
			p.alone.Store(true)
		}
	} else {
		p.second.Do(func() { close(p.waiting) })
	}
	return isFirst
}

// pairedGets holds the first GET until a second one is made beside it
// (pairing).
type pairedGets struct {
	*s3.Client
	*pairing
}

func newPairedGets(c *s3.Client) *pairedGets {
	return &pairedGets{Client: c, pairing: newPairing()}
}

func (c *pairedGets) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	c.call()
	return c.Client.GetObject(ctx, in, opts...)
}

// TestCompactOnS3OverlapsPartitions: on S3, where each file read costs a
// request's latency, compaction works on several partitions at once: the
// merges of small partitions overlap, and so do the reads that decide
// whether a partition needs merging. The first GET of each compaction is
// held until another is made beside it.
func TestCompactOnS3OverlapsPartitions(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	execs := emulator.Generate(68, 60, emulator.GenerateOptions{MinOps: 5, MaxOps: 30, Days: 6})
	commitInHalves(t, srv, bucket, execs) // two small files a table a partition
	dts := map[string]bool{}
	for _, k := range s3test.Keys(t, srv, bucket, "archive/executions/") {
		dts[strings.Split(k, "/")[2]] = true
	}
	if len(dts) < 3 {
		t.Fatalf("%d partitions: want several", len(dts))
	}
	for _, keep := range []bool{false, true} { // merges, then the reads that find nothing to merge
		c := newPairedGets(srv.Client())
		cp, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
		if err != nil {
			t.Fatal(err)
		}
		st, err := cp.Compact(ctx, load.CompactOptions{KeepLatest: keep})
		if err != nil {
			t.Fatalf("keep latest %v: %v", keep, err)
		}
		if merged := st.Partitions + st.AlreadyCompact; merged != len(dts) || (keep && st.Partitions != 0) {
			t.Fatalf("keep latest %v: %+v for %d partitions", keep, st, len(dts))
		}
		if c.alone.Load() {
			t.Errorf("keep latest %v (%d partitions merged): no GET was made beside the first: partitions one at a time", keep, st.Partitions)
		}
	}
}

// watchedDeletes pairs the first GET (pairedGets) and, apart, the first
// DeleteObject with a second one, cancels the context it was given at the
// first DeleteObject, and records when each began and ended.
type watchedDeletes struct {
	*pairedGets
	deletes *pairing
	cancel  context.CancelFunc
	mu      sync.Mutex
	log     []string // "begin KEY", "end KEY"
}

func (c *watchedDeletes) note(what, key string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.log = append(c.log, what+" "+key)
}

func (c *watchedDeletes) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	c.note("begin", aws.ToString(in.Key))
	if c.deletes.call() {
		c.cancel()
	}
	out, err := c.Client.DeleteObject(ctx, in, opts...)
	c.note("end", aws.ToString(in.Key))
	return out, err
}

// TestCompactOnS3MergesAPartitionAtOnce: on S3, where each request costs
// its latency, a partition's merge downloads its small files at once
// before it reads them one after another, and, once its merged files are
// published, removes the files they replace at once, the child tables'
// before the executions'. Interrupted while it removes them, it finishes
// first: the partition is merged, not left with both. Compacted again,
// the merged files (whose footers say what each replaced) are downloaded
// at once as well.
func TestCompactOnS3MergesAPartitionAtOnce(t *testing.T) {
	srv, bucket := s3test.Bucket(t)
	commitInHalves(t, srv, bucket, emulator.Generate(72, 40, emulator.GenerateOptions{MinOps: 5, MaxOps: 30, Days: 1}))
	keys := func() (run, merged []string) {
		for _, k := range s3test.Keys(t, srv, bucket, "archive/") {
			if base := path.Base(k); strings.HasPrefix(base, "compact-") {
				merged = append(merged, k)
			} else if strings.Contains(k, "/dt=") {
				run = append(run, k)
			}
		}
		return run, merged
	}
	latest := func() map[string]load.ExecutionState { return latestOnS3(t, srv, bucket) }
	before := latest()
	runFiles, _ := keys()
	dts := map[string]bool{}
	for _, k := range runFiles {
		dts[strings.Split(k, "/")[2]] = true
	}
	if len(dts) != 1 || len(runFiles) != 6 {
		t.Fatalf("run files %v: want two a table in one partition", runFiles)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	c := &watchedDeletes{pairedGets: newPairedGets(srv.Client()), deletes: newPairing(), cancel: cancel}
	cp, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cp.Compact(ctx, load.CompactOptions{})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("compact interrupted while it removed files: %+v, %v", st, err)
	}
	if run, merged := keys(); len(run) != 0 || len(merged) != 3 || st.Partitions != 1 {
		t.Errorf("after the interrupted removal: run files %v, merged %v, %d partitions merged: want 0, 3, 1", run, merged, st.Partitions)
	}
	if !reflect.DeepEqual(latest(), before) {
		t.Error("the newest snapshots differ after the merge")
	}
	if c.alone.Load() {
		t.Error("no GET was made beside the first: the partition's files downloaded one after another")
	}
	if c.deletes.alone.Load() {
		t.Error("no DeleteObject was made beside the first: the replaced files removed one after another")
	}
	lastChildEnd, firstExecBegin, n := -1, len(c.log), 0
	for i, e := range c.log {
		what, key, _ := strings.Cut(e, " ")
		switch {
		case strings.HasPrefix(key, "archive/executions/"):
			if what == "begin" {
				firstExecBegin, n = min(firstExecBegin, i), n+1
			}
		case what == "end":
			lastChildEnd = i
		}
	}
	if n != 2 || lastChildEnd > firstExecBegin {
		t.Errorf("deletes %v: want the two executions files removed after the child tables' files", c.log)
	}
	// Compacted again: the merged files' footers, which say what each
	// replaced, are read at once too.
	again := newPairedGets(srv.Client())
	cp, err = load.NewParquetS3(context.Background(), again, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	if st, err := cp.Compact(context.Background(), load.CompactOptions{}); err != nil || st.AlreadyCompact != 1 {
		t.Fatalf("compacted again: %+v, %v", st, err)
	}
	if again.alone.Load() {
		t.Error("compacted again: no GET was made beside the first: the merged files read one after another")
	}
}

// gatedPuts holds every PutObject until want of them are in flight at
// once (or a minute has passed since the first: then it says the number
// was never reached and lets every PUT through), and records when each
// began and ended.
type gatedPuts struct {
	*s3.Client
	want     int
	mu       sync.Mutex
	inFlight int
	open     chan struct{} // closed once want are in flight, or at the minute
	once     sync.Once
	never    atomic.Bool
	log      []string // "begin KEY", "end KEY"
}

func newGatedPuts(c *s3.Client, want int) *gatedPuts {
	g := &gatedPuts{Client: c, want: want, open: make(chan struct{})}
	time.AfterFunc(time.Minute, func() {
		g.once.Do(func() { g.never.Store(true); close(g.open) })
	})
	return g
}

func (g *gatedPuts) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	g.mu.Lock()
	g.inFlight++
	g.log = append(g.log, "begin "+aws.ToString(in.Key))
	if g.inFlight >= g.want {
		g.once.Do(func() { close(g.open) })
	}
	g.mu.Unlock()
	<-g.open
	out, err := g.Client.PutObject(ctx, in, opts...)
	g.mu.Lock()
	g.inFlight--
	g.log = append(g.log, "end "+aws.ToString(in.Key))
	g.mu.Unlock()
	return out, err
}

// TestS3SmallPartitionsUploadedAtOnce: on S3, where a small file's upload
// waits a request's latency after it is encoded, the uploads of many
// small partitions go on beside the encoding of the next ones: more are
// in flight at once than the partitions Close encodes at once (two
// files each). A partition's executions file is uploaded only once its
// operations and events files are. An upload that fails fails Close, and
// its partition's executions file is not published.
func TestS3SmallPartitionsUploadedAtOnce(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	execs := emulator.Generate(73, 80, emulator.GenerateOptions{MinOps: 3, MaxOps: 10, Days: 40})
	want := 2*load.DrainWorkersForTest + 1
	c := newGatedPuts(srv.Client(), want)
	pq, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitAll(t, execs, pq)
	if c.never.Load() {
		t.Errorf("never %d PUTs in flight at once: the partitions' uploads one job after another", want)
	}
	byDT := map[string][]string{}
	for _, k := range s3test.Keys(t, srv, bucket, "archive/") {
		if parts := strings.Split(k, "/"); len(parts) == 4 {
			byDT[parts[2]] = append(byDT[parts[2]], parts[1])
		}
	}
	if len(byDT) < 20 {
		t.Fatalf("%d partitions: want many", len(byDT))
	}
	for dt, tables := range byDT {
		if slices.Sort(tables); !reflect.DeepEqual(tables, []string{"events", "executions", "operations"}) {
			t.Errorf("%s: files of %v", dt, tables)
		}
	}
	ended := map[string]bool{} // child files uploaded, by key
	for _, e := range c.log {
		what, key, _ := strings.Cut(e, " ")
		if what == "end" {
			ended[key] = true
			continue
		}
		if parts := strings.Split(key, "/"); parts[1] == "executions" {
			for _, child := range []string{"operations", "events"} {
				if sib := strings.Replace(key, "/executions/", "/"+child+"/", 1); !ended[sib] {
					t.Errorf("%s uploaded before %s was", key, sib)
				}
			}
		}
	}

	dts := slices.Sorted(maps.Keys(byDT))
	bad := dts[len(dts)/2]
	srv2, bucket2 := s3test.Bucket(t)
	fc := &failingPuts{Client: srv2.Client(), part: "operations/" + bad + "/"}
	pq, err = load.NewParquetS3(ctx, fc, bucket2, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range execs {
		commitOne(t, e, pq)
	}
	if err := pq.Close(ctx); err == nil || !strings.Contains(err.Error(), bad) || fc.failed.Load() == 0 {
		t.Errorf("Close with the upload of %s's operations file refused: %v", bad, err)
	}
	if keys := s3test.Keys(t, srv2, bucket2, "archive/executions/"+bad+"/"); len(keys) != 0 {
		t.Errorf("%s's executions file published without its operations file: %v", bad, keys)
	}
}

// heldChildPuts holds the uploads of merged operations and events files
// until both are in flight at once and then until the compaction waits
// for them before publishing the executions file (or an executions file's
// upload begins: then it notes that this one began too early), or a
// minute has passed (then it says so).
type heldChildPuts struct {
	*s3.Client
	both, release      chan struct{}
	bothOnce, relOnce  sync.Once
	mu                 sync.Mutex
	inFlight, execPuts int
	never              atomic.Bool
	early              []string // executions files whose upload began beside a child's
}

func newHeldChildPuts(c *s3.Client) *heldChildPuts {
	h := &heldChildPuts{Client: c, both: make(chan struct{}), release: make(chan struct{})}
	time.AfterFunc(time.Minute, func() {
		h.bothOnce.Do(func() { h.never.Store(true); close(h.both) })
		h.let()
	})
	return h
}

func (h *heldChildPuts) let() { h.relOnce.Do(func() { close(h.release) }) }

func (h *heldChildPuts) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	key := aws.ToString(in.Key)
	h.mu.Lock()
	if strings.Contains(key, "/executions/") {
		h.execPuts++
		if h.inFlight > 0 {
			h.early = append(h.early, key)
		}
		h.mu.Unlock()
		h.let()
		return h.Client.PutObject(ctx, in, opts...)
	}
	if h.inFlight++; h.inFlight == 2 {
		h.bothOnce.Do(func() { close(h.both) })
	}
	h.mu.Unlock()
	<-h.both
	<-h.release
	out, err := h.Client.PutObject(ctx, in, opts...)
	h.mu.Lock()
	h.inFlight--
	h.mu.Unlock()
	return out, err
}

// TestCompactOnS3UploadsBesideTheNextMerge: on S3, where a merged file's
// upload waits a request's latency once it is written, a partition's
// merged operations file uploads while its events are merged (both
// uploads are in flight at once), and its merged executions file uploads
// only once both ended, as runs publish.
func TestCompactOnS3UploadsBesideTheNextMerge(t *testing.T) {
	srv, bucket := s3test.Bucket(t)
	commitInHalves(t, srv, bucket, emulator.Generate(74, 30, emulator.GenerateOptions{MinOps: 5, MaxOps: 30, Days: 1}))
	before := latestOnS3(t, srv, bucket)
	c := newHeldChildPuts(srv.Client())
	cp, err := load.NewParquetS3(context.Background(), c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	o := load.CompactOptions{KeepLatest: true}
	load.OnChildUploadsWait(&o, c.let)
	if st, err := cp.Compact(context.Background(), o); err != nil || st.Partitions != 1 || st.FilesOut != 3 {
		t.Fatalf("compact: %+v, %v: want one partition merged into three files", st, err)
	}
	if c.never.Load() {
		t.Error("never two PUTs of merged child files in flight at once: the operations file uploaded before the events were merged")
	}
	if len(c.early) != 0 || c.execPuts != 1 {
		t.Errorf("merged executions files uploaded beside their child tables' files: %v (%d in all, want 1)", c.early, c.execPuts)
	}
	if !reflect.DeepEqual(latestOnS3(t, srv, bucket), before) {
		t.Error("the newest snapshots differ after the merge")
	}
}

// failingPuts fails the upload of every object whose key has the part
// given.
type failingPuts struct {
	*s3.Client
	part   string
	failed atomic.Int32
}

func (c *failingPuts) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if strings.Contains(aws.ToString(in.Key), c.part) {
		c.failed.Add(1)
		return nil, errors.New("injected: upload refused")
	}
	return c.Client.PutObject(ctx, in, opts...)
}

// TestCompactOnS3FailureMidway: a compaction that fails in one partition
// (its merged executions file cannot be uploaded, after its operations
// and events files were; or its merged events file, uploading beside the
// executions' merge) while others are merged beside it returns the
// failure and leaves every partition merged or as it was, never both
// (its merged files removed, none published after the failure); the
// newest snapshots read the same; a rerun merges the rest.
func TestCompactOnS3FailureMidway(t *testing.T) {
	for _, table := range []string{"executions", "events"} {
		t.Run(table, func(t *testing.T) { compactOnS3FailureMidway(t, table) })
	}
}

func compactOnS3FailureMidway(t *testing.T, table string) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	commitInHalves(t, srv, bucket, emulator.Generate(69, 60, emulator.GenerateOptions{MinOps: 5, MaxOps: 30, Days: 6}))
	files := func() map[string][2]int { // by partition: run files, merged files
		out := map[string][2]int{}
		for _, k := range s3test.Keys(t, srv, bucket, "archive/") {
			parts := strings.Split(k, "/")
			if len(parts) != 4 || !strings.HasPrefix(parts[2], "dt=") {
				continue
			}
			n := out[parts[2]]
			if strings.HasPrefix(parts[3], "compact-") {
				n[1]++
			} else {
				n[0]++
			}
			out[parts[2]] = n
		}
		return out
	}
	latest := func() map[string]load.ExecutionState { return latestOnS3(t, srv, bucket) }
	before, was := latest(), files()
	dts := slices.Sorted(maps.Keys(was))
	if len(dts) < 3 {
		t.Fatalf("partitions %v: want several", was)
	}
	bad := dts[1]
	c := &failingPuts{Client: srv.Client(), part: table + "/" + bad + "/compact-"}
	cp, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	st, err := cp.Compact(ctx, load.CompactOptions{})
	if err == nil || c.failed.Load() == 0 {
		t.Fatalf("compact: %+v, %v, %d uploads refused: want the failure", st, err, c.failed.Load())
	}
	merged := 0
	for dt, n := range files() {
		switch {
		case n == was[dt]:
		case n[0] == 0 && n[1] == 3:
			merged++
		default:
			t.Errorf("%s: %d run files and %d merged ones (%d run files before): neither merged nor as it was", dt, n[0], n[1], was[dt][0])
		}
	}
	if files()[bad] != was[bad] || merged != st.Partitions {
		t.Errorf("the failed partition: %v (was %v); %d partitions merged, the stats say %d", files()[bad], was[bad], merged, st.Partitions)
	}
	if !reflect.DeepEqual(latest(), before) {
		t.Error("the newest snapshots differ after the failed compaction")
	}
	cp, err = load.NewParquetS3(ctx, srv.Client(), bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cp.Compact(ctx, load.CompactOptions{}); err != nil {
		t.Fatal(err)
	}
	for dt, n := range files() {
		if n != [2]int{0, 3} {
			t.Errorf("%s after the rerun: %d run files, %d merged", dt, n[0], n[1])
		}
	}
	if !reflect.DeepEqual(latest(), before) {
		t.Error("the newest snapshots differ after the rerun")
	}
}

// movingS3 moves an object elsewhere under its folder (copied, then
// deleted) just before the first GET of it, as a compaction beside a run
// publishes its merged file and removes the ones it merged between the
// run's listing and its read.
type movingS3 struct {
	*s3.Client
	bucket, suffix string // the object moved: the first whose key ends so
	moved          atomic.Bool
}

func (m *movingS3) GetObject(ctx context.Context, in *s3.GetObjectInput, opts ...func(*s3.Options)) (*s3.GetObjectOutput, error) {
	key := aws.ToString(in.Key)
	if strings.HasSuffix(key, m.suffix) && m.moved.CompareAndSwap(false, true) {
		to := strings.TrimSuffix(key, ".parquet") + "-merged.parquet"
		if _, err := m.Client.CopyObject(ctx, &s3.CopyObjectInput{Bucket: aws.String(m.bucket), Key: aws.String(to), CopySource: aws.String(m.bucket + "/" + key)}); err != nil {
			return nil, err
		}
		if _, err := m.Client.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(m.bucket), Key: aws.String(key)}); err != nil {
			return nil, err
		}
	}
	return m.Client.GetObject(ctx, in, opts...)
}

// TestS3FileMovedWhileRead: on S3, a file that vanishes between a
// reader's listing and its GET (NoSuchKey: a compaction beside it removed
// what it merged) is read again from a new listing, as on a local disk:
// what is archived, and the rows of an execution, come whole.
func TestS3FileMovedWhileRead(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	execs := emulator.Generate(66, 12, emulator.GenerateOptions{MaxOps: 20, Days: 1, LargePayloadEvery: -1})
	pq, err := load.NewParquetS3(ctx, srv.Client(), bucket, "archive", t.TempDir(), load.S3Options{})
	if err != nil {
		t.Fatal(err)
	}
	commitAll(t, execs, pq)
	for _, table := range []string{"executions", "operations"} {
		t.Run(table, func(t *testing.T) {
			m := &movingS3{Client: srv.Client(), bucket: bucket, suffix: ".parquet"}
			rd, err := load.NewParquetS3(ctx, m, bucket, "archive", t.TempDir(), load.S3Options{})
			if err != nil {
				t.Fatal(err)
			}
			if table == "executions" {
				a, err := rd.Archived(ctx, "next")
				if err != nil || a.Len() != len(execs) {
					t.Fatalf("archived: %v, %d executions of %d", err, a.Len(), len(execs))
				}
			} else {
				latest, err := rd.Latest(ctx, nil)
				if err != nil {
					t.Fatal(err)
				}
				m.moved.Store(false)
				m.suffix = ".parquet"
				st := latest[execs[0].ARN]
				rows, err := rd.Rows(ctx, []load.ExecutionState{st})
				if err != nil || len(rows[execs[0].ARN].Operations) != execs[0].Len {
					t.Fatalf("rows: %v", err)
				}
			}
			if !m.moved.Load() {
				t.Fatal("no object moved: the test did not test")
			}
		})
	}
}

// TestLostEventsOnS3ReadRanges: on S3, what an execution's events rewrite
// (etl run --force --rewrite-events) reads to learn which events the
// archive holds is ranges of the partition's objects, not each object
// whole for every execution mended (a compacted partition's events file
// is hundreds of megabytes); and the rewrite gives each event once.
func TestLostEventsOnS3ReadRanges(t *testing.T) {
	ctx := context.Background()
	srv, bucket := s3test.Bucket(t)
	c := &countingS3{Client: srv.Client()}
	open := func(run string) load.Loader {
		pq, err := load.NewParquetS3(ctx, c, bucket, "archive", t.TempDir(), load.S3Options{}, load.WithFilePrefix("part-"+run))
		if err != nil {
			t.Fatal(err)
		}
		return pq
	}
	// One file of events: another execution's 48 of 128 KiB, then
	// heldARN's first 4.
	l := open("held-1")
	other := strings.Replace(heldARN, "/held/1", "/other/2", 1)
	x, err := l.Begin(ctx, other)
	if err != nil {
		t.Fatal(err)
	}
	if err := x.Write(ctx, schema.RowsOf(schema.Events, fillerEvents(t, other, 48, 128<<10))); err != nil {
		t.Fatal(err)
	}
	n := int64(48)
	if err := x.Commit(ctx, heldDT, schema.Execution{ExecutionArn: other, RunID: "held-1", ExtractedAt: heldAt, EventCount: &n, Source: "history"}); err != nil {
		t.Fatal(err)
	}
	commitWithEvents(t, l, heldDT, nil, heldEvents("held-1", 1, 4), heldRow("held-1", 4))
	keys := s3test.Keys(t, srv, bucket, "archive/events/dt="+heldDT+"/")
	if len(keys) != 1 || len(getObject(t, srv.Client(), bucket, keys[0])) < 4<<20 {
		t.Fatalf("events objects %v: want one of over 4 MiB", keys)
	}
	c.whole.Store(0)
	c.ranged.Store(0)
	c.keys = nil
	rewriteHeldEvents(t, open("held-2"), "held-2")
	if c.whole.Load() != 0 || c.ranged.Load() == 0 {
		t.Errorf("learning the events held: %d objects downloaded whole (%v), %d ranges read; want ranges only", c.whole.Load(), c.keys, c.ranged.Load())
	}
	if ids := heldEventIDs(t, open("read")); !slices.Equal(ids, []int32{1, 2, 3, 4, 5, 6, 7, 8, 9}) {
		t.Errorf("events held after the rewrite: %v, want each of 1-9 once", ids)
	}
}
