package load_test

import (
	"bytes"
	"context"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/schema"
)

// fileWriter writes a Parquet file of no events at a path under dir (its
// folders made) and returns the file's path.
func fileWriter(t *testing.T, dir string) func(rel string) string {
	return func(rel string) string {
		t.Helper()
		return writeRows[schema.Event](t, dir, rel)
	}
}

// writeRows writes rows as a Parquet file at a path under dir (its folders
// made) and returns the file's path.
func writeRows[T any](t *testing.T, dir, rel string, rows ...T) string {
	t.Helper()
	p := filepath.Join(dir, filepath.FromSlash(rel))
	os.MkdirAll(filepath.Dir(p), 0o755)
	if err := parquet.WriteFile(p, rows); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestOrphanEventsCountWhereTheyContinue: events files that killed runs
// (never resumed) published without their executions sibling count as
// archived for writing, so that the next run does not write their events
// twice, but only where they continue the archive exactly (read after its
// newest executions row, with the ids that follow its last one); they
// never make an execution skipped, nor its last id look archived.
func TestOrphanEventsCountWhereTheyContinue(t *testing.T) {
	dir := t.TempDir()
	t1 := time.Date(2026, 1, 2, 3, 0, 0, 0, time.UTC)
	t2 := t1.Add(time.Hour)
	exec := func(arn, status string, at time.Time, count int64, last int32) schema.Execution {
		return schema.Execution{ExecutionArn: arn, Status: &status, ExtractedAt: at, EventCount: &count, LastEventID: &last, RunID: "first"}
	}
	writeRows(t, dir, "executions/dt=2026-01-01/part-first-aaaa-00001.parquet",
		exec("A", "STARTED", t1, 5, 5),
		exec("B", "STARTED", t2, 3, 3),
		exec("E", "SUCCEEDED", t1, 0, 0),
		exec("F", "STARTED", t1, 4, 9))
	events := func(arn string, at time.Time, ids ...int32) []schema.Event {
		var out []schema.Event
		for _, id := range ids {
			out = append(out, schema.Event{ExecutionArn: arn, EventID: id, EventType: "StepStarted", ExtractedAt: at, RunID: "killed"})
		}
		return out
	}
	var k1 []schema.Event
	for _, evs := range [][]schema.Event{
		events("A", t2, 6, 7),    // continues A: counts
		events("B", t1, 4, 5),    // read before B's newest row: does not
		events("C", t1, 1, 2, 3), // C has no row yet: counts
		events("D", t1, 2, 3),    // a gap at 1: does not
		events("E", t2, 1, 2, 3), // E was archived through state: counts
		events("F", t2, 10, 11),  // F's ids are not positions: does not
	} {
		k1 = append(k1, evs...)
	}
	writeRows(t, dir, "events/dt=2026-01-01/part-killed1-bbbb-00001.parquet", k1...)
	writeRows(t, dir, "events/dt=2026-01-01/part-killed2-cccc-00001.parquet", events("C", t2, 4)...)
	// A compaction's merged files are numbered per table: an events file
	// past the last executions one is no orphan, and is not read.
	writeRows(t, dir, "executions/dt=2026-01-01/compact-20260102T030000.000Z-dddddd-00001.parquet", exec("Z", "STARTED", t1, 0, 0))
	writeRows(t, dir, "events/dt=2026-01-01/compact-20260102T030000.000Z-dddddd-00002.parquet", events("G", t2, 1, 2)...)
	t.Run("local", func(t *testing.T) {
		pd, err := load.NewParquetDir(dir)
		if err != nil {
			t.Fatal(err)
		}
		checkOrphanEvents(t, pd, func(rel string) bool {
			_, err := os.Stat(filepath.Join(dir, filepath.FromSlash(rel)))
			return err == nil
		})
	})
	t.Run("S3", func(t *testing.T) {
		srv3, bucket := s3test.Bucket(t)
		client := srv3.Client()
		filepath.WalkDir(dir, func(p string, e fs.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			rel, _ := filepath.Rel(dir, p)
			body, _ := os.ReadFile(p)
			_, err = client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a/" + filepath.ToSlash(rel)), Body: bytes.NewReader(body)})
			return err
		})
		pq, err := load.NewParquetS3(context.Background(), client, bucket, "a", t.TempDir(), load.S3Options{})
		if err != nil {
			t.Fatal(err)
		}
		checkOrphanEvents(t, pq, func(rel string) bool {
			return len(s3test.Keys(t, srv3, bucket, "a/"+rel)) == 1
		})
	})
}

// checkOrphanEvents checks what TestOrphanEventsCountWhereTheyContinue's
// archive reads as through pq; exists tells whether a file is there.
func checkOrphanEvents(t *testing.T, pq *load.Parquet, exists func(rel string) bool) {
	a, err := pq.Archived(context.Background(), "next")
	if err != nil {
		t.Fatal(err)
	}
	for arn, want := range map[string]load.EventsArchived{
		"A": {LastID: 5, Count: 7, DataArchived: true},
		"B": {LastID: 3, Count: 3, DataArchived: true},
		"C": {Count: 4},
		"D": {},
		"E": {Count: 3, DataArchived: true, Final: true},
		"F": {LastID: 9, Count: 4, DataArchived: true},
		"G": {},
	} {
		if got := a.Events(arn); got != want {
			t.Errorf("%s: %+v, want %+v", arn, got, want)
		}
	}
	for _, arn := range []string{"C", "D", "E"} {
		if reason, skip := a.Skip(arn, true); skip {
			t.Errorf("%s skipped (%s) for events without an executions row", arn, reason)
		}
	}
	if _, skip := a.Skip("E", false); !skip {
		t.Error("E, terminal, is read again by a run without history")
	}
	for _, f := range []string{"part-killed1-bbbb-00001.parquet", "part-killed2-cccc-00001.parquet"} {
		if !exists("events/dt=2026-01-01/" + f) {
			t.Errorf("another run's events file %s was removed", f)
		}
	}
}

// TestOrphanOperationsFileRemoved: an operations file published without its
// executions sibling (a kill between the pair's two renames) is removed when
// its run is resumed, and only then.
func TestOrphanOperationsFileRemoved(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
	orphan := write("operations/dt=2026-01-01/part-r1-ab12-00003.parquet")
	other := write("operations/dt=2026-01-01/part-r2-cd34-00001.parquet")
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.Archived(context.Background(), "r3"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); err != nil {
		t.Fatal("another run's files must be left alone")
	}
	if _, err := pd.Archived(context.Background(), "r1"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(orphan); !os.IsNotExist(err) {
		t.Error("the resumed run's orphan operations file is still there")
	}
	if _, err := os.Stat(other); err != nil {
		t.Error("run r2's orphan was removed by r1's resume")
	}
}

// TestOrphansOfOtherShardsKept: the shards of one run share its id and
// publish at once; a shard that starts or resumes removes the operations
// and events files its own killed attempt left without their executions
// sibling, never another shard's (whose sibling may be a moment away), nor
// the unsharded run's, and the unsharded run none of the shards'.
func TestOrphansOfOtherShardsKept(t *testing.T) {
	dir := t.TempDir()
	write := fileWriter(t, dir)
	mine := write("operations/dt=2026-01-01/part-r5-s1of2-ab12cd34ef56-00003.parquet")
	myEvents := write("events/dt=2026-01-01/part-r5-s1of2-ab12cd34ef56-00003.parquet")
	shard2 := write("operations/dt=2026-01-01/part-r5-s2of2-0123456789ab-00001.parquet")
	unsharded := write("events/dt=2026-01-02/part-r5-77aa77aa77aa-00001.parquet")
	exists := func(p string) bool { _, err := os.Stat(p); return err == nil }
	archived := func(prefix string) {
		t.Helper()
		pd, err := load.NewParquetDir(dir, load.WithFilePrefix(prefix))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := pd.Archived(context.Background(), "r5"); err != nil {
			t.Fatal(err)
		}
	}
	archived("part-r5-9f9f9f9f9f9f") // the unsharded run
	if !exists(mine) || !exists(shard2) {
		t.Fatal("the unsharded run removed a shard's files")
	}
	if exists(unsharded) {
		t.Error("the unsharded run's own orphan is still there")
	}
	archived("part-r5-s2of2-1e1e1e1e1e1e") // shard 2 resumes
	if !exists(mine) || !exists(myEvents) {
		t.Fatal("shard 2 removed shard 1's files")
	}
	if exists(shard2) {
		t.Error("shard 2's own orphan is still there")
	}
	archived("part-r5-s1of2-2d2d2d2d2d2d") // shard 1 resumes
	if exists(mine) || exists(myEvents) {
		t.Error("shard 1's own orphans are still there")
	}
}

func TestStaleIncomingFilesRemoved(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, load.IncomingDir), 0o755)
	stale := filepath.Join(dir, load.IncomingDir, ".part-killed-00001.parquet")
	fresh := filepath.Join(dir, load.IncomingDir, ".part-running-00001.parquet")
	for _, p := range []string{stale, fresh} {
		os.WriteFile(p, []byte("x"), 0o644)
	}
	old := time.Now().Add(-load.StaleIncomingAge - time.Hour)
	os.Chtimes(stale, old, old)
	if _, err := load.NewParquetDir(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Error("a day-old leftover is still in _incoming")
	}
	if _, err := os.Stat(fresh); err != nil {
		t.Error("a file another run may be writing was removed")
	}
}
