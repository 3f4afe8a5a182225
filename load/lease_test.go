package load_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
)

// leaseStore is one destination for checkLease: a new loader on it, a
// record planted as another run (or another host) would leave it, and the
// run records present.
type leaseStore struct {
	open    func(t *testing.T) *load.Parquet
	plant   func(t *testing.T, name string, body []byte)
	records func(t *testing.T) []string
}

// TestLease: runs whose scopes overlap are admitted one at a time, on a
// local directory and on S3.
func TestLease(t *testing.T) {
	t.Run("local", func(t *testing.T) {
		dir := t.TempDir()
		checkLease(t, leaseStore{
			open: func(t *testing.T) *load.Parquet {
				pd, err := load.NewParquetDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				return pd
			},
			plant: func(t *testing.T, name string, body []byte) {
				p := filepath.Join(dir, filepath.FromSlash(name))
				os.MkdirAll(filepath.Dir(p), 0o755)
				if err := os.WriteFile(p, body, 0o644); err != nil {
					t.Fatal(err)
				}
			},
			records: func(t *testing.T) []string {
				names, _ := filepath.Glob(filepath.Join(dir, load.RunsDir, "*"))
				for i, n := range names {
					names[i] = load.RunsDir + "/" + filepath.Base(n)
				}
				return names
			},
		})
		// A record not renewed for LeaseExpiry is a killed run's, even of a
		// process alive elsewhere.
		dir = t.TempDir()
		pd := checkedOpen(t, dir)
		old := filepath.Join(dir, load.RunsDir, "old.json")
		os.MkdirAll(filepath.Dir(old), 0o755)
		os.WriteFile(old, record(t, "old", nil, "elsewhere", 1), 0o644)
		if release, err := pd.Lease(context.Background(), load.RunScope{RunID: "new"}); err == nil {
			release(context.Background())
			t.Fatal("admitted beside a fresh record of another host's run")
		}
		past := time.Now().Add(-load.LeaseExpiry - time.Minute)
		os.Chtimes(old, past, past)
		release, err := pd.Lease(context.Background(), load.RunScope{RunID: "new"})
		if err != nil {
			t.Fatalf("beside an expired record: %v", err)
		}
		if _, err := os.Stat(old); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("the expired record is still there: %v", err)
		}
		release(context.Background())

		// A held lease's record is written again while the run lasts: a
		// record removed under it comes back at the next renewal.
		renewed := make(chan error, 1)
		pd, err = load.NewParquetDir(dir, load.WithLeaseRenewalForTest(time.Millisecond, func(err error) {
			select {
			case renewed <- err:
			default:
			}
		}))
		if err != nil {
			t.Fatal(err)
		}
		release, err = pd.Lease(context.Background(), load.RunScope{RunID: "long"})
		if err != nil {
			t.Fatal(err)
		}
		rec := filepath.Join(dir, load.RunsDir, "long.json")
		os.Remove(rec)
		back := false
		for range 100 { // a renewal under way may have ended before the removal
			if err := <-renewed; err != nil {
				t.Fatal(err)
			}
			if _, err := os.Stat(rec); err == nil {
				back = true
				break
			}
		}
		if !back {
			t.Error("the record was not written again")
		}
		release(context.Background())
		if _, err := os.Stat(rec); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("released, and still there: %v", err)
		}
	})
	t.Run("S3", func(t *testing.T) {
		srv3, bucket := s3test.Bucket(t)
		client := srv3.Client()
		checkLease(t, leaseStore{
			open: func(t *testing.T) *load.Parquet {
				pq, err := load.NewParquetS3(context.Background(), client, bucket, "a", t.TempDir(), load.S3Options{})
				if err != nil {
					t.Fatal(err)
				}
				return pq
			},
			plant: func(t *testing.T, name string, body []byte) {
				if _, err := client.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String("a/" + name), Body: bytes.NewReader(body)}); err != nil {
					t.Fatal(err)
				}
			},
			records: func(t *testing.T) []string {
				keys := s3test.Keys(t, srv3, bucket, "a/"+load.RunsDir+"/")
				for i, k := range keys {
					keys[i] = strings.TrimPrefix(k, "a/")
				}
				return keys
			},
		})
	})
}

// TestLeaseOnAStalledStore: a store that stops answering (its calls
// retried for minutes through an outage, or hung) neither holds the
// run's end nor keeps the record from being written again once it is
// back: each renewal is given up when the next is due, release ends the
// one under way at once and gives up removing the record after a
// renewal period. Before, a run whose S3 went away printed its summary
// and then waited on the renewal under way, each taking minutes, for as
// long as the store was gone.
func TestLeaseOnAStalledStore(t *testing.T) {
	srv3, bucket := s3test.Bucket(t)
	client := &stallingS3{S3API: srv3.Client(), entered: make(chan struct{}, 16), ended: make(chan error, 16)}
	renewed := make(chan error, 16)
	const period = 500 * time.Millisecond
	pq, err := load.NewParquetS3(context.Background(), client, bucket, "a", t.TempDir(), load.S3Options{},
		load.WithLeaseRenewalForTest(period, func(err error) { renewed <- err }))
	if err != nil {
		t.Fatal(err)
	}
	release, err := pq.Lease(context.Background(), load.RunScope{RunID: "r"})
	if err != nil {
		t.Fatal(err)
	}
	// wait fails the test if what it waits for does not come in a
	// minute: without the bounds, it would never come.
	wait := func(what string, c <-chan error) error {
		t.Helper()
		select {
		case err := <-c:
			return err
		case <-time.After(time.Minute):
			t.Fatalf("still waiting, after a minute, for %s", what)
			return nil
		}
	}
	for tries := 0; wait("a renewal", renewed) != nil; tries++ {
		if tries == 20 {
			t.Fatal("20 renewals against the store, none written")
		}
	}
	// The renewals are made one after another: each stalled one enters,
	// ends and is heard of in turn.
	client.stall.Store(true)
	waitEntered := func() {
		t.Helper()
		select {
		case <-client.entered:
		case <-time.After(time.Minute):
			t.Fatal("no renewal made against the stalled store in a minute")
		}
	}
	waitEntered()
	if err := wait("a stalled renewal to be given up", client.ended); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("the stalled renewal ended with %v, want its deadline", err)
	}
	for { // a renewal made before the stall may be heard of first
		if err := wait("the stalled renewal to be heard of", renewed); err != nil {
			break
		}
	}
	// The next renewal stalls in turn; release ends it at once (its
	// context canceled, not run out) and gives up the removal after a
	// period.
	waitEntered()
	done := make(chan error, 1)
	go func() { done <- release(context.Background()) }()
	if err := wait("the stalled renewal to end", client.ended); !errors.Is(err, context.Canceled) {
		t.Errorf("the renewal under way at release ended with %v, want it canceled", err)
	}
	err = wait("release", done)
	if err == nil || !strings.Contains(err.Error(), "_runs/r.json") {
		t.Errorf("release on a stalled store: %v, want the record named as left", err)
	}
	client.stall.Store(false)
	if keys := s3test.Keys(t, srv3, bucket, "a/"+load.RunsDir+"/"); len(keys) != 1 {
		t.Errorf("records %v, want the one release could not remove", keys)
	}
}

// stallingS3 is a real S3 client whose record writes and removals, while
// stall is set, hang until their context ends, as calls to a store that
// does not answer do; entered and ended hear of each stalled write.
type stallingS3 struct {
	load.S3API
	stall   atomic.Bool
	entered chan struct{} // a record write stalled
	ended   chan error    // how it ended
}

func (s *stallingS3) hang(ctx context.Context, call string) error {
	if call != "PutObject" {
		<-ctx.Done()
		return ctx.Err()
	}
	s.entered <- struct{}{}
	<-ctx.Done()
	s.ended <- ctx.Err()
	return ctx.Err()
}

func (s *stallingS3) PutObject(ctx context.Context, in *s3.PutObjectInput, opts ...func(*s3.Options)) (*s3.PutObjectOutput, error) {
	if s.stall.Load() {
		return nil, s.hang(ctx, "PutObject")
	}
	return s.S3API.PutObject(ctx, in, opts...)
}

func (s *stallingS3) DeleteObject(ctx context.Context, in *s3.DeleteObjectInput, opts ...func(*s3.Options)) (*s3.DeleteObjectOutput, error) {
	if s.stall.Load() {
		return nil, s.hang(ctx, "DeleteObject")
	}
	return s.S3API.DeleteObject(ctx, in, opts...)
}

func checkedOpen(t *testing.T, dir string) *load.Parquet {
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return pd
}

// record is a run's lease record as another process would write it.
func record(t *testing.T, run string, functions []string, host string, pid int) []byte {
	b, err := json.Marshal(map[string]any{"run_id": run, "functions": functions, "host": host, "pid": pid, "started": time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// checkLease is what every Leaser destination must do.
func checkLease(t *testing.T, st leaseStore) {
	ctx := context.Background()
	lease := func(scope load.RunScope) (func(context.Context) error, error) {
		return st.open(t).Lease(ctx, scope)
	}
	want := func(what string, names ...string) {
		t.Helper()
		got := st.records(t)
		if strings.Join(got, " ") != strings.Join(names, " ") {
			t.Errorf("%s: records %v, want %v", what, got, names)
		}
	}
	// refusedSaying: refused for the lease of by, the error saying says.
	refusedSaying := func(what string, scope load.RunScope, by string, says ...string) {
		t.Helper()
		release, err := lease(scope)
		var running *load.RunningError
		switch {
		case err == nil:
			release(ctx)
			t.Errorf("%s: admitted beside %s", what, by)
		case !errors.As(err, &running) || running.Other.RunID != by || slices.ContainsFunc(says, func(s string) bool { return !strings.Contains(err.Error(), s) }):
			t.Errorf("%s: %v, want %s named, saying %q", what, err, by, says)
		}
	}
	refused := func(what string, scope load.RunScope, by string) {
		t.Helper()
		refusedSaying(what, scope, by, "run "+by+" ")
	}
	admitted := func(what string, scope load.RunScope) func(context.Context) error {
		t.Helper()
		release, err := lease(scope)
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
		return release
	}

	releaseA := admitted("the first run", load.RunScope{RunID: "a", Functions: []string{"orders"}})
	want("the first run's record", "_runs/a.json")
	refused("a run of the same function", load.RunScope{RunID: "b", Functions: []string{"payments", "orders"}}, "a")
	refused("a manifest's run (any function)", load.RunScope{RunID: "b"}, "a")
	want("refused runs leave no record", "_runs/a.json")
	releaseC := admitted("a run of another function", load.RunScope{RunID: "c", Functions: []string{"payments"}})
	resumed := admitted("the first run resumed (its run ID)", load.RunScope{RunID: "a", Functions: []string{"orders"}})
	want("two runs", "_runs/a.json", "_runs/c.json")
	resumed(ctx)
	if err := releaseA(ctx); err != nil && !errors.Is(err, os.ErrNotExist) {
		t.Fatal(err)
	}
	releaseC(ctx)
	want("released", "")

	// Runs of one function over executions that started apart (a
	// backfill beside a nightly) are disjoint, when both know the starts;
	// spans that meet, or a run that does not know them, are not.
	day := func(d int) time.Time { return time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC) }
	spans := func(first, last int) map[string][2]time.Time {
		return map[string][2]time.Time{"orders": {day(first), day(last)}}
	}
	backfill := admitted("a backfill of January's first half", load.RunScope{RunID: "bf", Functions: []string{"orders", "payments"}, StartSpans: spans(1, 15)})
	nightly := admitted("a run of its second half", load.RunScope{RunID: "n", Functions: []string{"orders"}, StartSpans: spans(16, 31)})
	refused("a run of the week that meets both", load.RunScope{RunID: "w", Functions: []string{"orders"}, StartSpans: spans(15, 16)}, "bf")
	_, err := lease(load.RunScope{RunID: "w", Functions: []string{"orders"}, StartSpans: spans(16, 16)})
	if err == nil || !strings.Contains(err.Error(), "function orders (its executions started 2026-01-16T00:00:00Z to 2026-01-31T00:00:00Z)") {
		t.Errorf("beside the run of the second half: %v, want its span named", err)
	}
	refused("a run of orders whose starts are unknown", load.RunScope{RunID: "w", Functions: []string{"orders"}}, "bf")
	refused("a run of payments (no span known to the backfill)", load.RunScope{RunID: "w", Functions: []string{"payments"}, StartSpans: map[string][2]time.Time{"payments": {day(20), day(21)}}}, "bf")
	backfill(ctx)
	nightly(ctx)
	want("spans released", "")

	// The shards of one run, and those of two runs split alike, are
	// disjoint; split otherwise, they are not.
	r0 := admitted("shard 0/2", load.RunScope{RunID: "s", Shard: 0, Shards: 2})
	r1 := admitted("shard 1/2 of the same run", load.RunScope{RunID: "s", Shard: 1, Shards: 2})
	refused("shard 0/2 of another run", load.RunScope{RunID: "t", Shard: 0, Shards: 2}, "s")
	r2 := admitted("shard 1/2 of another run, beside shard 0/2 only", func() load.RunScope {
		r1(ctx)
		return load.RunScope{RunID: "t", Shard: 1, Shards: 2}
	}())
	refused("shard 0/3 of another run", load.RunScope{RunID: "u", Shard: 0, Shards: 3}, "s")
	r0(ctx)
	r2(ctx)
	want("shards released", "")

	// Compactions: one at a time over a partition (date ranges that
	// meet), beside any run, their records apart from the runs'.
	compactionRefused := func(what string, scope load.RunScope, by, dts string) {
		t.Helper()
		refusedSaying(what, scope, by, "compaction "+by+" ", "merging "+dts+" there")
	}
	all := admitted("a compaction of every partition", load.RunScope{RunID: "c1", Compaction: true})
	run := admitted("a run beside it", load.RunScope{RunID: "r"})
	want("the compaction's record is not among the runs'", "_runs/r.json")
	compactionRefused("a compaction of January beside it", load.RunScope{RunID: "c2", Compaction: true, DTs: [2]string{"2026-01-01", "2026-01-31"}}, "c1", "every partition")
	all(ctx)
	jan := admitted("a compaction of January", load.RunScope{RunID: "c3", Compaction: true, DTs: [2]string{"2026-01-01", "2026-01-31"}})
	feb := admitted("one of February on, beside it", load.RunScope{RunID: "c4", Compaction: true, DTs: [2]string{"2026-02-01", ""}})
	compactionRefused("one up to January's first day", load.RunScope{RunID: "c5", Compaction: true, DTs: [2]string{"", "2026-01-01"}}, "c3", "the partitions 2026-01-01..2026-01-31")
	jan(ctx)
	feb(ctx)
	run(ctx)
	again := admitted("a compaction once the others ended", load.RunScope{RunID: "c6", Compaction: true})
	again(ctx)
	want("compactions released", "")

	// A record of this host whose process is gone counts for nothing and
	// is removed; one whose process lives counts.
	host, _ := os.Hostname()
	gone := exec.Command("true")
	if err := gone.Run(); err != nil {
		t.Fatal(err)
	}
	st.plant(t, "_runs/dead.json", record(t, "dead", nil, host, gone.Process.Pid))
	r := admitted("beside a dead process's record", load.RunScope{RunID: "x"})
	want("the dead process's record removed", "_runs/x.json")
	r(ctx)
	st.plant(t, "_runs/live.json", record(t, "live", []string{"orders"}, host, os.Getppid()))
	refused("beside a live process's record", load.RunScope{RunID: "y", Functions: []string{"orders"}}, "live")
	st.plant(t, "_runs/junk.json", []byte("not a record"))
	r = admitted("a run of another function, beside a record that is no run's", load.RunScope{RunID: "z", Functions: []string{"payments"}})
	r(ctx)
	want("what is not a run's record is left alone", "_runs/junk.json", "_runs/live.json")
}

// TestFanoutLease: several destinations are leased together; one that
// refuses leaves no record at the others.
func TestFanoutLease(t *testing.T) {
	a, b := t.TempDir(), t.TempDir()
	ctx := context.Background()
	host, _ := os.Hostname()
	os.MkdirAll(filepath.Join(b, load.RunsDir), 0o755)
	os.WriteFile(filepath.Join(b, load.RunsDir, "other.json"), record(t, "other", []string{"orders"}, host, os.Getppid()), 0o644)
	f := load.Fanout(checkedOpen(t, a), checkedOpen(t, b)).(load.Leaser)
	_, err := f.Lease(ctx, load.RunScope{RunID: "mine", Functions: []string{"orders"}})
	var running *load.RunningError
	if !errors.As(err, &running) || running.Dest != b {
		t.Fatalf("beside a live run at the second destination: %v", err)
	}
	if left, _ := os.ReadDir(filepath.Join(a, load.RunsDir)); len(left) != 0 {
		t.Errorf("the first destination keeps %v", left)
	}
	release, err := f.Lease(ctx, load.RunScope{RunID: "mine", Functions: []string{"payments"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(d, load.RunsDir, "mine.json")); err != nil {
			t.Errorf("leased, and no record: %v", err)
		}
	}
	if err := release(ctx); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{a, b} {
		if _, err := os.Stat(filepath.Join(d, load.RunsDir, "mine.json")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("released, and still there: %v", err)
		}
	}
}

// TestMissingLocalDirs: MissingLocalDirs names exactly the folders that
// opening a new local destination and leasing a run there make, deepest
// first (so that removing them in order with os.Remove empties the
// path), and at an existing destination only what it lacks.
func TestMissingLocalDirs(t *testing.T) {
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b", "archive")
	missing := load.MissingLocalDirs(dir)
	pd, err := load.NewParquetDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	release, err := pd.Lease(context.Background(), load.RunScope{RunID: "dirs"})
	if err != nil {
		t.Fatal(err)
	}
	release(context.Background())
	if err := pd.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	var made []string
	filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
		if err == nil && d.IsDir() && p != root {
			made = append(made, p)
		}
		return err
	})
	if !slices.Equal(slices.Sorted(slices.Values(missing)), made) {
		t.Errorf("MissingLocalDirs said %v, opening and leasing made %v", missing, made)
	}
	for i, p := range missing {
		for _, below := range missing[i+1:] {
			if strings.HasPrefix(below, p+string(filepath.Separator)) {
				t.Errorf("%s comes after %s, which holds it", below, p)
			}
		}
	}
	if again := load.MissingLocalDirs(dir); len(again) != 0 {
		t.Errorf("at the destination just made: %v", again)
	}
}
