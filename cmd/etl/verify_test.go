package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"runtime/debug"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/jackc/pgx/v5"
	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/discovery"
	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/internal/pgtest"
	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/durable-etl/durable-etl/load"
	"github.com/durable-etl/durable-etl/pipeline"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/verify"
)

func readVerify(t testing.TB, path string) verify.Report {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r verify.Report
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

// verifyFixture serves finished executions (and one still running) of the
// demo functions and archives them into dest.
func verifyFixture(t *testing.T, dest string, env func(), extra ...string) (*emulator.Server, string, []emulator.Execution) {
	t.Helper()
	execs := emulator.Generate(41, 24, emulator.GenerateOptions{MaxOps: 40})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	if env != nil {
		env() // after the emulator's: the S3 server's credentials win
	}
	if r := runCLI(t, append([]string{"run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-level", "warn"}, extra...)...); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	return srv, url, execs
}

// verifyFixtureClient is verifyFixture into a new directory, with an SDK
// client of its emulator.
func verifyFixtureClient(t *testing.T) (string, []emulator.Execution, *lambda.Client) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "archive")
	_, url, execs := verifyFixture(t, dest, nil)
	client, err := extract.NewClient(context.Background(), extract.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	return dest, execs, client
}

func runVerify(t *testing.T, url, dest string, extra ...string) (int, verify.Report) {
	t.Helper()
	report := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, append([]string{"verify", "--all-functions", "--dest", dest, "--endpoint-url", url, "--all", "--report", report}, extra...)...)
	return r.code, readVerify(t, report)
}

// rewriteFile rewrites a Parquet file of rows of T through edit.
func rewriteFile[T any](t *testing.T, path string, edit func([]T) []T) {
	t.Helper()
	rows, err := parquet.ReadFile[T](path)
	if err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(path, edit(rows)); err != nil {
		t.Fatal(err)
	}
}

// renameOneOperation alters the name column of one operation of a
// terminal execution of execs in the archive's first operations file
// that holds one and returns the execution's ARN.
func renameOneOperation(t *testing.T, dest string, execs []emulator.Execution) string {
	t.Helper()
	return renameFirst(t, dest, "operations", execs, func(r *schema.Operation) (string, **string) { return r.ExecutionArn, &r.Name },
		func(e emulator.Execution, _ *schema.Operation) bool { return true })
}

// renameFirst sets the name of the first row of table (in file order)
// of a terminal execution of execs that pick accepts to "tampered", and
// returns the execution's ARN; fields gives a row's ARN and its name.
func renameFirst[T any](t *testing.T, dest, table string, execs []emulator.Execution, fields func(*T) (string, **string), pick func(emulator.Execution, *T) bool) string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dest, table, "dt=*", "*.parquet"))
	var victim string
	for _, f := range files {
		rewriteFile(t, f, func(rows []T) []T {
			for i := range rows {
				arn, name := fields(&rows[i])
				for _, e := range execs {
					if victim == "" && e.ARN == arn && terminal(e) && pick(e, &rows[i]) {
						victim = e.ARN
						*name = aws.String("tampered")
					}
				}
			}
			return rows
		})
		if victim != "" {
			return victim
		}
	}
	t.Fatalf("no %s row of an ended execution to alter", table)
	return ""
}

// terminal reports that e has ended as its state says: archived, its
// snapshot is final.
func terminal(e emulator.Execution) bool { return load.Terminal(string(e.Op(0).Status)) }

// finalAmong counts the executions of execs in set that have ended (those
// verify compares); none is a test that proves nothing: it fails, naming
// what set holds.
func finalAmong(t *testing.T, execs []emulator.Execution, set map[string]bool, what string) int {
	t.Helper()
	n := 0
	for _, e := range execs {
		if set[e.ARN] && terminal(e) {
			n++
		}
	}
	if n == 0 {
		t.Fatalf("no final execution %s", what)
	}
	return n
}

// TestVerifyCatchesTampering: an intact archive verifies clean; a deleted
// file, a truncated snapshot, an altered column and a snapshot taken before
// the execution finished are each found and named (local Parquet); then
// the README's remedies (a plain run, and --force over a manifest made of
// the report) mend all but an altered event, which is written once.
func TestVerifyCatchesTampering(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "archive")
	srv, url, execs := verifyFixture(t, dest, nil)
	if code, r := runVerify(t, url, dest); code != 0 || r.Complete != len(execs) || r.Equal == 0 || r.Equal != r.Sampled {
		t.Fatalf("intact archive: exit %d, %+v", code, r)
	}
	t.Run("altered column", func(t *testing.T) {
		victim := renameOneOperation(t, dest, execs)
		code, r := runVerify(t, url, dest)
		if code != exitFailed || len(r.ContentDiffer) != 1 || r.ContentDiffer[0].ExecutionArn != victim || !strings.Contains(r.ContentDiffer[0].What, "column name") {
			t.Fatalf("exit %d, %+v", code, r.ContentDiffer)
		}
	})
	t.Run("truncated snapshot", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dest, "operations", "dt=*", "*.parquet"))
		var victim string
		rewriteFile(t, files[len(files)-1], func(rows []schema.Operation) []schema.Operation {
			for i := len(rows) - 1; i >= 0; i-- {
				for _, e := range execs {
					if e.ARN == rows[i].ExecutionArn && terminal(e) && victim == "" {
						victim = e.ARN
						return append(rows[:i:i], rows[i+1:]...)
					}
				}
			}
			return rows
		})
		_, r := runVerify(t, url, dest)
		found := false
		for _, d := range r.ContentDiffer {
			found = found || (d.ExecutionArn == victim && strings.Contains(d.What, "not in the archive"))
		}
		if !found {
			t.Fatalf("%s's missing operation not named: %+v", victim, r.ContentDiffer)
		}
	})
	t.Run("altered content hash", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dest, "executions", "dt=*", "*.parquet"))
		var victim string
		rewriteFile(t, files[len(files)-1], func(rows []schema.Execution) []schema.Execution {
			for i := range rows {
				for _, e := range execs {
					if e.ARN == rows[i].ExecutionArn && terminal(e) && victim == "" {
						victim, rows[i].ContentHash = e.ARN, strings.Repeat("0", 64)
					}
				}
			}
			return rows
		})
		_, r := runVerify(t, url, dest)
		found := false
		for _, d := range r.ContentDiffer {
			found = found || (d.ExecutionArn == victim && strings.HasPrefix(d.What, "content_hash"))
		}
		if !found {
			t.Fatalf("%s's altered content_hash not named: %+v", victim, r.ContentDiffer)
		}
	})
	t.Run("deleted file", func(t *testing.T) {
		files, _ := filepath.Glob(filepath.Join(dest, "executions", "dt=*", "*.parquet"))
		rows, _ := parquet.ReadFile[schema.Execution](files[0])
		os.Remove(files[0])
		code, r := runVerify(t, url, dest)
		if code != exitFailed || len(r.Missing) != len(rows) {
			t.Fatalf("exit %d, %d missing, want %d", code, len(r.Missing), len(rows))
		}
	})
	t.Run("snapshot taken before the end", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "archive")
		e := execs[0]
		archivedBeforeTheEnd(t, srv, url, e, dest)
		code, r := runVerify(t, url, dest)
		if code != exitFailed || len(r.Stale) != 1 || r.Stale[0].ExecutionArn != e.ARN {
			t.Fatalf("exit %d, stale %+v", code, r.Stale)
		}
		srv.Add(e)
	})
	// Mended as the README says (Verification): the archive as the
	// subtests above left it (an operation renamed, one dropped, a content
	// hash altered, an executions file deleted), and one event altered too.
	{
		_, before := runVerify(t, url, dest)
		victim := alterOneEvent(t, dest, execs, before)
		code, before := runVerify(t, url, dest)
		if code != exitFailed || len(before.Missing) == 0 || len(before.ContentDiffer) < 3 || !slices.ContainsFunc(before.ContentDiffer, func(d verify.Difference) bool { return d.ExecutionArn == victim }) {
			t.Fatalf("before: exit %d, %d missing, content differs %+v", code, len(before.Missing), before.ContentDiffer)
		}
		// A plain run archives the missing; --force, over a manifest made
		// of the report as the README's jq line makes it, the differing.
		if r := runCLI(t, "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
			t.Fatalf("run: exit %d", r.code)
		}
		var m strings.Builder
		for _, d := range slices.Concat(before.Differing, before.ContentDiffer, before.LacksUnknown, before.LacksColumns) {
			fmt.Fprintf(&m, "{\"DurableExecutionArn\":%q}\n", d.ExecutionArn)
		}
		manifest := filepath.Join(t.TempDir(), "again.jsonl")
		os.WriteFile(manifest, []byte(m.String()), 0o644)
		if r := runCLI(t, "run", "--force", "--manifest", manifest, "--dest", dest, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
			t.Fatalf("run --force: exit %d", r.code)
		}
		// Everything agrees but the altered event: events are written
		// once, so it stays as archived, and verify goes on naming it.
		code, after := runVerify(t, url, dest)
		if code != exitFailed || after.Complete != len(execs) || len(after.Missing)+len(after.Stale)+len(after.Differing)+len(after.Errors) != 0 ||
			len(after.ContentDiffer) != 1 || after.ContentDiffer[0].ExecutionArn != victim || !strings.Contains(after.ContentDiffer[0].What, "column name") {
			t.Fatalf("after: exit %d, %d of %d complete, %d missing, stale %v, differing %v, content differs %+v, errors %v",
				code, after.Complete, len(execs), len(after.Missing), after.Stale, after.Differing, after.ContentDiffer, after.Errors)
		}
	}
}

// TestVerifyTheArchiveAlone: verify given neither --function,
// --all-functions nor --manifest checks the archive's own executions
// against the API: an intact archive verifies clean, named as listed from
// the archive (report and summary); an altered column and a snapshot
// taken before the end are found as with a listing; an executions file
// deleted leaves its executions' operations and events, which are listed
// and, asked of the service, found missing (nothing else can be: the
// summary says so), as are
// all when every executions file is; an archive that holds nothing is a
// usage error, not a clean verify.
func TestVerifyTheArchiveAlone(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "archive")
	now := time.Now().UTC()
	execs := emulator.Generate(41, 24, emulator.GenerateOptions{MaxOps: 40, Start: now.AddDate(0, 0, -6), Days: 3})
	// Ended in January: the service keeps no history that long (90 days
	// at most), so verify does not ask for those.
	old := emulator.Generate(42, 12, emulator.GenerateOptions{MaxOps: 20})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(execs...)
	srv.Add(old...)
	url, _ := emulatortest.Start(t, srv)
	if r := runCLI(t, "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	asked := map[string]int64{}
	ended := 0
	for _, e := range old {
		asked[e.ARN] = srv.Requests("get", e.ARN)
		if terminal(e) {
			ended++
		}
	}
	alone := func(dest string) (cliResult, verify.Report) {
		t.Helper()
		report := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, "verify", "--dest", dest, "--endpoint-url", url, "--all", "--report", report)
		if r.code == exitUsage {
			return r, verify.Report{}
		}
		return r, readVerify(t, report)
	}
	all := len(execs) + len(old)
	r, rep := alone(dest)
	if r.code != 0 || rep.ListedFrom != "archive" || rep.Expected != all || rep.Complete != all || rep.Equal == 0 || rep.Equal != rep.Sampled ||
		!strings.Contains(r.stdout, "listed from the archive itself") || !strings.Contains(r.stderr, fmt.Sprintf("listed the archive's executions: checking them against the API (only those without an executions row can be found missing)\" executions=%d without_executions_row=0", all)) {
		t.Fatalf("intact: exit %d, %+v", r.code, rep)
	}
	// Those ended longer ago than any history is kept: counted, not asked
	// (the ones still running when archived are).
	if ended == 0 || ended == len(old) || rep.PastRetention != ended || !strings.Contains(r.stdout, fmt.Sprintf("%d ended longer ago than the service keeps their history", ended)) {
		t.Fatalf("%d past their retention, want %d of %d", rep.PastRetention, ended, len(old))
	}
	for _, e := range old {
		if n := srv.Requests("get", e.ARN) - asked[e.ARN]; n != 0 && terminal(e) || n == 0 && !terminal(e) {
			t.Errorf("%s (ended %v): asked %d times", e.ARN, terminal(e), n)
		}
	}
	// ... and checked against their own executions rows instead (--all:
	// every one), all consistent; so are those still running, which the
	// API cannot compare.
	if rep.SelfChecked != ended+rep.NotComparedSelfChecked || rep.NotComparedSelfChecked != rep.NotSampleable || rep.NotSampleable == 0 || len(rep.Inconsistent) != 0 ||
		!strings.Contains(r.stdout, fmt.Sprintf("%d checked against their own executions rows (the service no longer has them)", ended)) ||
		!strings.Contains(r.stdout, fmt.Sprintf("%d of them checked against their own executions rows instead", rep.NotSampleable)) {
		t.Fatalf("intact: %d checked against their own rows (want %d and the %d not compared, %d of them so), inconsistent %v",
			rep.SelfChecked, ended, rep.NotSampleable, rep.NotComparedSelfChecked, rep.Inconsistent)
	}
	selfShare := (5*ended + all - 1) / all // of a sample of 5, rounded up
	// The sample is drawn whole from the others, in one round or in
	// rounds of 4 (where those past their retention come round by round).
	report := filepath.Join(t.TempDir(), "v.json")
	if r := runCLI(t, "verify", "--dest", dest, "--endpoint-url", url, "--sample", "5", "--report", report); r.code != 0 {
		t.Fatalf("--sample 5: exit %d", r.code)
	}
	if rep := readVerify(t, report); rep.Sampled+rep.NotSampleable != 5 || rep.PastRetention != ended || rep.SelfChecked-rep.NotComparedSelfChecked != selfShare || rep.NotComparedSelfChecked != rep.NotSampleable {
		t.Errorf("--sample 5: %d sampled, %d not sampleable, %d past retention, %d checked against their own rows (want %d and the %d not compared)",
			rep.Sampled, rep.NotSampleable, rep.PastRetention, rep.SelfChecked, selfShare, rep.NotSampleable)
	}
	{
		ctx := context.Background()
		reader, listed := listArchive(t, dest)
		client, err := extract.NewClient(ctx, extract.WithEndpointURL(url))
		if err != nil {
			t.Fatal(err)
		}
		rec := &latestRecorder{Parquet: reader}
		progress := &pipeline.Progress{}
		rep, err := verify.InRounds(ctx, client, rec, listed, verify.Options{Sample: 5, Seed: 7, Concurrency: 4, RoundSize: 4, Progress: progress,
			PastRetention: func(st load.ExecutionState) bool { return pastRetention(st, now) }})
		if n := progress.Done.Load(); n != int64(all) {
			t.Errorf("in rounds of 4: progress counts %d executions checked of %d", n, all)
		}
		if forgotten := rep.SelfChecked - rep.NotComparedSelfChecked; err != nil || rep.Sampled+rep.NotSampleable != 5 || rep.PastRetention != ended || rep.Complete != all || forgotten < 1 || forgotten > selfShare {
			t.Errorf("in rounds of 4: %v, %d sampled, %d not sampleable, %d past retention, %d complete, %d checked against their own rows (want 1 to %d)",
				err, rep.Sampled, rep.NotSampleable, rep.PastRetention, rep.Complete, rep.SelfChecked, selfShare)
		}
		// Each round reads its own start dates only, and finds there
		// every execution it holds (no round over every date after).
		kept := 0
		for _, n := range rec.kept {
			kept += n
		}
		if len(rec.kept) != (all+3)/4 || kept != all || slices.Contains(rec.spans, "") {
			t.Errorf("rounds of 4 over %d executions: states kept per round %v, start dates read %q", all, rec.kept, rec.spans)
		}
		// An ended execution with an older snapshot, still running, under
		// an earlier date (its start unknown then): listed by that date,
		// its round reads up to its newest's date, so it is not stale.
		twoDates := filepath.Join(t.TempDir(), "two-dates")
		if err := os.CopyFS(twoDates, os.DirFS(dest)); err != nil {
			t.Fatal(err)
		}
		var newest *schema.Execution
		files, _ := filepath.Glob(filepath.Join(twoDates, "executions", "dt=*", "*.parquet"))
		for _, f := range files {
			for _, row := range readFileRows[schema.Execution](t, f) {
				if row.Status != nil && load.Terminal(*row.Status) && !pastRetention(load.ExecutionState{Status: row.Status, EndTime: row.EndTime}, now) &&
					(newest == nil || row.StartTime.After(*newest.StartTime)) {
					newest = &row
				}
			}
		}
		if newest == nil {
			t.Fatal("no ended execution within its retention")
		}
		older := *newest
		older.Status, older.RunID, older.ExtractedAt = aws.String("RUNNING"), "older", newest.ExtractedAt.Add(-time.Hour)
		if err := os.MkdirAll(filepath.Join(twoDates, "executions", "dt=2020-01-01"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := parquet.WriteFile(filepath.Join(twoDates, "executions", "dt=2020-01-01", "older.parquet"), []schema.Execution{older}); err != nil {
			t.Fatal(err)
		}
		r2, listed2 := listArchive(t, twoDates)
		rec = &latestRecorder{Parquet: r2}
		rep, err = verify.InRounds(ctx, client, rec, listed2, verify.Options{Concurrency: 4, RoundSize: 4,
			PastRetention: func(st load.ExecutionState) bool { return pastRetention(st, now) }})
		if err != nil || len(rep.Stale) != 0 || rep.Complete != all || slices.Contains(rec.spans, "") || !strings.HasPrefix(rec.spans[0], "2020-01-01..") {
			t.Errorf("an older snapshot under an earlier date: %v, stale %v, %d complete of %d, start dates read %q", err, rep.Stale, rep.Complete, all, rec.spans)
		}
		// The same by a manifest without start times, dated by the
		// archive as the archive's own listing is.
		var lines []string
		for i := range listed2.Len() {
			lines = append(lines, fmt.Sprintf(`{"DurableExecutionArn":%q}`, listed2.At(i).ARN))
		}
		m, err := extract.NewManifest("test", []byte(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		byManifest, err := listManifest(ctx, m, r2)
		m.Close()
		if err != nil {
			t.Fatal(err)
		}
		defer byManifest.close()
		rec = &latestRecorder{Parquet: r2}
		rep, err = verify.InRounds(ctx, client, rec, byManifest, verify.Options{Concurrency: 4, RoundSize: 4})
		if err != nil || len(rep.Stale) != 0 || len(rep.Missing) != 0 || slices.Contains(rec.spans, "") || !strings.HasPrefix(rec.spans[0], "2020-01-01..") {
			t.Errorf("by a manifest dated by the archive: %v, stale %v, missing %v, start dates read %q", err, rep.Stale, rep.Missing, rec.spans)
		}
	}
	if code, rep := runVerify(t, url, dest); code != 0 || rep.ListedFrom != "api" {
		t.Fatalf("--all-functions: exit %d, listed from %q", code, rep.ListedFrom)
	}

	// An executions file deleted, in a copy: its executions' operations
	// and events remain, so they are listed, asked of the API once each
	// (with no executions row, nothing says their retention passed), and
	// found missing: the service has them.
	copied := filepath.Join(t.TempDir(), "copy")
	if err := os.CopyFS(copied, os.DirFS(dest)); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(copied, "executions", "dt=*", "*.parquet"))
	rows, err := parquet.ReadFile[schema.Execution](files[0])
	if err != nil || len(rows) == 0 {
		t.Fatalf("%s: %d rows, %v", files[0], len(rows), err)
	}
	var lost []string
	before := map[string]int64{}
	for _, row := range rows {
		lost = append(lost, row.ExecutionArn)
		before[row.ExecutionArn] = srv.Requests("get", row.ExecutionArn)
	}
	slices.Sort(lost)
	lost = slices.Compact(lost)
	os.Remove(files[0])
	if r, rep := alone(copied); r.code != exitFailed || rep.Expected != all || !slices.Equal(rep.Missing, lost) ||
		!strings.Contains(r.stderr, fmt.Sprintf("without_executions_row=%d", len(lost))) || !strings.Contains(r.stderr, "no executions row of") ||
		!strings.Contains(r.stdout, "missing: "+lost[0]+": no executions row in the archive, only operations or events") {
		t.Fatalf("executions file deleted: exit %d, %d expected (want %d), missing %v, want %v", r.code, rep.Expected, all, rep.Missing, lost)
	}
	for arn, n := range before {
		if asked := srv.Requests("get", arn) - n; asked != 1 {
			t.Errorf("%s, found missing, was asked of the API %d times, want once", arn, asked)
		}
	}
	// Every executions file deleted: all missing, not an empty archive.
	files, _ = filepath.Glob(filepath.Join(copied, "executions", "dt=*", "*.parquet"))
	for _, f := range files {
		os.Remove(f)
	}
	if r, rep := alone(copied); r.code != exitFailed || rep.Expected != all || len(rep.Missing) != all || rep.Complete != 0 {
		t.Fatalf("every executions file deleted: exit %d, %d expected, %d missing, %d complete", r.code, rep.Expected, len(rep.Missing), rep.Complete)
	}
	// An operations file deleted, in another copy: the ended executions
	// it held (compared: --all; those within their retention, the others
	// not being asked of the API) are named as differing, an operation
	// missing.
	opsGone := filepath.Join(t.TempDir(), "ops-gone")
	if err := os.CopyFS(opsGone, os.DirFS(dest)); err != nil {
		t.Fatal(err)
	}
	files, _ = filepath.Glob(filepath.Join(opsGone, "operations", "dt=*", "*.parquet"))
	isEnded := map[string]bool{}
	for _, e := range execs {
		isEnded[e.ARN] = terminal(e)
	}
	victims := map[string]bool{}
	for _, f := range files {
		rows := readFileRows[schema.Operation](t, f)
		if !slices.ContainsFunc(rows, func(r schema.Operation) bool { return isEnded[r.ExecutionArn] }) {
			continue
		}
		for _, row := range rows {
			victims[row.ExecutionArn] = isEnded[row.ExecutionArn]
		}
		maps.DeleteFunc(victims, func(_ string, ended bool) bool { return !ended })
		os.Remove(f)
		break
	}
	r, rep = alone(opsGone)
	differ := map[string]bool{}
	for _, d := range rep.ContentDiffer {
		differ[d.ExecutionArn] = strings.Contains(d.What, "not in the archive")
	}
	if r.code != exitFailed || len(victims) == 0 || len(differ) != len(victims) || !maps.Equal(differ, victims) {
		t.Fatalf("operations file deleted: exit %d, content differs %+v, want the %d ended executions it held", r.code, rep.ContentDiffer, len(victims))
	}

	// Past their retention the API cannot say what they held: an
	// operations or events file of theirs deleted, or an operation
	// altered, is found against their executions rows' own counts and
	// content hash, still without asking the API.
	// (Those of them still running, not comparable, are checked so too.)
	oldEnded, oldARN := map[string]bool{}, map[string]bool{}
	for _, e := range old {
		oldARN[e.ARN] = true
		if terminal(e) {
			oldEnded[e.ARN] = true
		}
	}
	for _, table := range []string{"operations", "events"} {
		copied := filepath.Join(t.TempDir(), table+"-gone-past-retention")
		if err := os.CopyFS(copied, os.DirFS(dest)); err != nil {
			t.Fatal(err)
		}
		files, _ := filepath.Glob(filepath.Join(copied, table, "dt=*", "*.parquet"))
		victims := map[string]bool{}
		for _, f := range files {
			arns := fileARNs(t, f)
			if !slices.ContainsFunc(arns, func(arn string) bool { return oldEnded[arn] }) {
				continue
			}
			for _, arn := range arns {
				if !oldARN[arn] {
					t.Fatalf("%s holds %s, not of the old executions", f, arn)
				}
				victims[arn] = true
			}
			os.Remove(f)
			break
		}
		before := map[string]int64{}
		for arn := range victims {
			before[arn] = srv.Requests("get", arn)
		}
		r, rep := alone(copied)
		found := map[string]bool{}
		for _, d := range rep.Inconsistent {
			found[d.ExecutionArn] = strings.HasPrefix(d.What, table+": 0 archived, its executions row counts ")
		}
		if r.code != exitFailed || len(victims) == 0 || !maps.Equal(found, victims) || len(rep.ContentDiffer) != 0 ||
			!strings.Contains(r.stdout, "inconsistent: ") || !strings.Contains(r.stderr, "the archive's rows disagree with its own executions rows") {
			t.Fatalf("%s file of executions past retention deleted: exit %d, inconsistent %+v, want %d of them", table, r.code, rep.Inconsistent, len(victims))
		}
		for arn, n := range before {
			if srv.Requests("get", arn) != n && oldEnded[arn] {
				t.Errorf("%s, past its retention, was asked of the API", arn)
			}
		}
	}
	altered := filepath.Join(t.TempDir(), "altered-past-retention")
	if err := os.CopyFS(altered, os.DirFS(dest)); err != nil {
		t.Fatal(err)
	}
	pastVictim := renameFirst(t, altered, "operations", old, func(r *schema.Operation) (string, **string) { return r.ExecutionArn, &r.Name },
		func(e emulator.Execution, _ *schema.Operation) bool { return true })
	if r, rep := alone(altered); r.code != exitFailed || len(rep.Inconsistent) != 1 || rep.Inconsistent[0] != (verify.Difference{ExecutionArn: pastVictim, What: verify.ContentHashDiffers}) {
		t.Fatalf("an operation of an execution past retention altered: exit %d, inconsistent %+v", r.code, rep.Inconsistent)
	}
	// Gone from the API (the service forgot them; a server without them
	// here): those archived running, drawn for the sample, are checked
	// against their own rows too.
	forgot := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	forgot.Add(execs...)
	forgotURL, _ := emulatortest.Start(t, forgot)
	goneReport := filepath.Join(t.TempDir(), "gone.json")
	if r := runCLI(t, "verify", "--dest", dest, "--endpoint-url", forgotURL, "--all", "--report", goneReport); r.code != 0 {
		t.Fatalf("executions gone from the API: exit %d", r.code)
	}
	if rep := readVerify(t, goneReport); rep.GoneFromAPI != len(old)-ended || rep.SelfChecked != len(old)+rep.NotComparedSelfChecked || len(rep.Inconsistent) != 0 {
		t.Fatalf("executions gone from the API: %d gone (want %d), %d checked against their own rows (want %d and the %d not compared), inconsistent %v",
			rep.GoneFromAPI, len(old)-ended, rep.SelfChecked, len(old), rep.NotComparedSelfChecked, rep.Inconsistent)
	}

	victim := renameOneOperation(t, dest, execs)
	if r, rep := alone(dest); r.code != exitFailed || len(rep.ContentDiffer) != 1 || rep.ContentDiffer[0].ExecutionArn != victim {
		t.Fatalf("altered column: exit %d, %+v", r.code, rep.ContentDiffer)
	}

	// Archived running, ended since: stale.
	stale := filepath.Join(t.TempDir(), "stale")
	e := execs[0]
	archivedBeforeTheEnd(t, srv, url, e, stale)
	if r, rep := alone(stale); r.code != exitFailed || len(rep.Stale) != 1 || rep.Stale[0].ExecutionArn != e.ARN {
		t.Fatalf("stale: exit %d, %+v", r.code, rep.Stale)
	}

	empty := t.TempDir()
	if r, _ := alone(empty); r.code != exitUsage || !strings.Contains(r.stderr, "holds no execution to verify") {
		t.Fatalf("empty archive: exit %d, %s", r.code, r.stderr)
	}
}

// fileARNs are the execution ARNs of the rows of one file of any table.
func fileARNs(t *testing.T, path string) []string {
	t.Helper()
	var arns []string
	for _, r := range readFileRows[struct {
		ExecutionArn string `parquet:"execution_arn"`
	}](t, path) {
		arns = append(arns, r.ExecutionArn)
	}
	return arns
}

// listArchive opens the Parquet archive at dest for reading and lists its
// own executions, as a verify of the archive alone does; the listing is
// closed when the test ends.
func listArchive(t *testing.T, dest string) (*load.Parquet, listing) {
	t.Helper()
	reader, err := load.OpenParquetDirForReading(dest)
	if err != nil {
		t.Fatal(err)
	}
	listed, err := archivedListing(context.Background(), reader, dest, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { listed.close() })
	return reader, listed
}

// TestAtRiskOfArchivedEnd: an execution the listing gives no end (a
// manifest's, the archive's own) is at risk by its archived end_time and
// retention when it differs; without an archived end it is not, nor when
// its history lasts beyond the warning, nor when it is inconsistent and
// the service has forgotten it (one the service still has is).
func TestAtRiskOfArchivedEnd(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	ended := func(daysAgo int, retention int32) load.ExecutionState {
		end := now.AddDate(0, 0, -daysAgo)
		return load.ExecutionState{Status: aws.String("SUCCEEDED"), EndTime: &end, RetentionDays: &retention}
	}
	archived := map[string]load.ExecutionState{
		"soon": ended(25, 30), "later": ended(5, 30), "unknown-end": {Status: aws.String("RUNNING")}, "equal": ended(25, 30),
	}
	var exp []verify.Execution
	rep := &verify.Report{}
	for _, arn := range []string{"soon", "later", "unknown-end", "equal"} {
		exp = append(exp, verify.Execution{ARN: arn})
		if arn != "equal" {
			rep.ContentDiffer = append(rep.ContentDiffer, verify.Difference{ExecutionArn: arn, What: "differs"})
		}
	}
	// One whose rows disagree with its own executions row: the service
	// has forgotten it (checked so), no run can mend it: not at risk.
	archived["forgotten"] = ended(26, 30)
	exp = append(exp, verify.Execution{ARN: "forgotten"})
	rep.Inconsistent = append(rep.Inconsistent, verify.Difference{ExecutionArn: "forgotten", What: "operations: 1 archived, its executions row counts 2"})
	// One the service still has (an ended one archived through state,
	// with no token to compare it by): a run with --force mends it
	// while its history lasts, so it is at risk as one that differs.
	archived["at-service"] = ended(24, 30)
	exp = append(exp, verify.Execution{ARN: "at-service"})
	rep.Inconsistent = append(rep.Inconsistent, verify.Difference{ExecutionArn: "at-service", What: "events: 1 archived, its executions row counts 2", AtService: true})
	got := atRiskOf(exp, rep, archived, nil, now, 7*24*time.Hour)
	if len(got) != 2 || got[0].ExecutionArn != "soon" || !got[0].HistoryExpiresAt.Equal(now.AddDate(0, 0, 5)) ||
		got[1].ExecutionArn != "at-service" || !got[1].HistoryExpiresAt.Equal(now.AddDate(0, 0, 6)) {
		t.Errorf("at risk %+v, want soon and at-service, expiring in 5 and 6 days", got)
	}
}

// TestPastRetention: an archived execution is past its retention once it
// ended longer ago than its own retention as archived (else 90 days) and
// a day; one running, or without an end, never is.
func TestPastRetention(t *testing.T) {
	now := time.Date(2026, 12, 4, 12, 0, 0, 0, time.UTC)
	st := func(status string, endedDaysAgo int, own *int32) load.ExecutionState {
		end := now.AddDate(0, 0, -endedDaysAgo)
		return load.ExecutionState{Status: aws.String(status), EndTime: &end, RetentionDays: own}
	}
	seven := int32(7)
	for _, tc := range []struct {
		name string
		st   load.ExecutionState
		past bool
	}{
		{"own 7 days, ended 9 ago", st("SUCCEEDED", 9, &seven), true},
		{"own 7 days, ended 7 ago", st("FAILED", 7, &seven), false},
		{"no own retention, ended 60 ago", st("SUCCEEDED", 60, nil), false},
		{"no own retention, ended 92 ago", st("TIMED_OUT", 92, nil), true},
		{"running", st("RUNNING", 300, nil), false},
		{"no end", load.ExecutionState{Status: aws.String("SUCCEEDED")}, false},
	} {
		if got := pastRetention(tc.st, now); got != tc.past {
			t.Errorf("%s: past %v, want %v", tc.name, got, tc.past)
		}
	}
}

// archivedBeforeTheEnd archives srv's executions into dest with e still
// running (its EXECUTION operation alone, started), then has srv serve e
// as ended a minute after its start: dest's snapshot of e is stale. The
// caller serves e as it was again (srv.Add(e)) when it needs to.
func archivedBeforeTheEnd(t *testing.T, srv *emulator.Server, url string, e emulator.Execution, dest string) {
	t.Helper()
	running := types.Operation(e.Op(0))
	running.Status, running.EndTimestamp = "STARTED", nil
	live := e
	live.Len = 1
	live.Op = func(int) types.Operation { return running }
	live.History = nil
	srv.Add(live)
	if r := runCLI(t, "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	finished := running
	finished.Status, finished.EndTimestamp = "SUCCEEDED", aws.Time(running.StartTimestamp.Add(time.Minute))
	live.Op = func(int) types.Operation { return finished }
	srv.Add(live)
}

// alterOneEvent renames an event of a terminal execution that rep names
// nowhere, in the archive's first events file that holds one, and returns
// the execution's ARN.
func alterOneEvent(t *testing.T, dest string, execs []emulator.Execution, rep verify.Report) string {
	t.Helper()
	named := map[string]bool{}
	for _, d := range slices.Concat(rep.Stale, rep.Differing, rep.ContentDiffer) {
		named[d.ExecutionArn] = true
	}
	for _, a := range rep.Missing {
		named[a] = true
	}
	return renameFirst(t, dest, "events", execs, func(r *schema.Event) (string, **string) { return r.ExecutionArn, &r.Name },
		func(e emulator.Execution, r *schema.Event) bool { return !named[e.ARN] && r.Name != nil })
}

// TestVerifyComparesExecutionsRow: verify compares the executions row
// whole, not only its status and end time: an altered column of it is a
// content difference (Parquet and Postgres, whole and streamed), and one
// that lacks only columns added since it was archived (null in the
// archive: written by an older etl) is named apart, until etl run --force
// archives it again.
func TestVerifyComparesExecutionsRow(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	dbURL, s := pgtest.Schema(t)
	_, url, execs := verifyFixture(t, dir, nil, "--dest", dbURL, "--pg-schema", s, "--migrate")
	reader, err := load.OpenParquetDirForReading(dir)
	if err != nil {
		t.Fatal(err)
	}
	archived, _ := archivedAndExpected(t, reader, execs)
	var final []string
	for arn, st := range archived {
		if st.Status != nil && load.Terminal(*st.Status) {
			final = append(final, arn)
		}
	}
	sort.Strings(final)
	if len(final) < 2 {
		t.Fatalf("%d final executions: want two", len(final))
	}
	altered, older := final[0], final[1]
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet"))
	for _, f := range files {
		rewriteFile(t, f, func(rows []schema.Execution) []schema.Execution {
			for i := range rows {
				switch rows[i].ExecutionArn {
				case altered:
					rows[i].TraceID = aws.String("Root=1-tampered")
				case older:
					rows[i].ExecutionDataIncluded, rows[i].ExpectedTimeoutTime = nil, nil
				}
			}
			return rows
		})
	}
	conn := pgtest.Conn(t, dbURL)
	tbl := pgx.Identifier{s, "executions"}.Sanitize()
	for _, q := range []struct {
		sql string
		arn string
	}{{"UPDATE " + tbl + " SET trace_id = 'Root=1-tampered' WHERE execution_arn = $1", altered}, {"UPDATE " + tbl + " SET execution_data_included = NULL, expected_execution_timeout_time = NULL WHERE execution_arn = $1", older}} {
		if _, err := conn.Exec(context.Background(), q.sql, q.arn); err != nil {
			t.Fatal(err)
		}
	}
	check := func(label string, r *verify.Report) {
		t.Helper()
		if len(r.ContentDiffer) != 1 || r.ContentDiffer[0].ExecutionArn != altered || r.ContentDiffer[0].What != "executions row: column trace_id" {
			t.Errorf("%s: differing %v, want %s's trace_id", label, r.ContentDiffer, altered)
		}
		if len(r.LacksColumns) != 1 || r.LacksColumns[0].ExecutionArn != older || !strings.Contains(r.LacksColumns[0].What, "execution_data_included") {
			t.Errorf("%s: lacking columns %v, want %s's execution_data_included", label, r.LacksColumns, older)
		}
		if len(r.Errors) != 0 || r.OK() {
			t.Errorf("%s: errors %v, ok %v", label, r.Errors, r.OK())
		}
	}
	for _, dest := range []string{dir, dbURL} {
		code, r := runVerify(t, url, dest, "--pg-schema", s)
		check(dest[:4], &r)
		if code != exitFailed {
			t.Errorf("%s: exit %d", dest[:4], code)
		}
	}
	byStream := verifyInProcess(t, dir, url, execs)
	for _, streamRows := range []int64{0, 1} {
		check(fmt.Sprintf("in process, streamRows %d", streamRows), byStream(streamRows))
	}
	if r := runCLI(t, "run", "--all-functions", "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--endpoint-url", url, "--force", "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run --force: exit %d", r.code)
	}
	for _, dest := range []string{dir, dbURL} {
		if code, r := runVerify(t, url, dest, "--pg-schema", s); code != 0 || len(r.ContentDiffer)+len(r.LacksColumns) != 0 || r.Equal != r.Sampled {
			t.Errorf("%s after --force: exit %d, differing %v, lacking %v", dest[:4], code, r.ContentDiffer, r.LacksColumns)
		}
	}
}

// TestVerifyPostgresAndS3: the same checks against Postgres (a row dropped
// from Postgres only, a column altered) and MinIO (an object deleted).
func TestVerifyPostgresAndS3(t *testing.T) {
	dbURL, s := pgtest.Schema(t)
	srv3, bucket := s3test.Bucket(t)
	dir := filepath.Join(t.TempDir(), "archive")
	s3dest := "s3://" + bucket + "/archive"
	_, url, execs := verifyFixture(t, dir, func() { srv3.Env(t) }, "--dest", dbURL, "--pg-schema", s, "--migrate", "--dest", s3dest)
	for _, dest := range []string{dbURL, s3dest} {
		if code, r := runVerify(t, url, dest, "--pg-schema", s); code != 0 || r.Complete != len(execs) || r.Equal == 0 || r.Equal != r.Sampled {
			t.Fatalf("intact %s: exit %d, %+v", dest[:5], code, r)
		}
		// The archive's own executions (no --all-functions): those that
		// ended (in January) are past any retention, not asked.
		report := filepath.Join(t.TempDir(), "alone.json")
		if r := runCLI(t, "verify", "--dest", dest, "--pg-schema", s, "--endpoint-url", url, "--all", "--report", report); r.code != 0 {
			t.Fatalf("intact %s, verified alone: exit %d", dest[:5], r.code)
		}
		ended := 0
		for _, e := range execs {
			if terminal(e) {
				ended++
			}
		}
		if r := readVerify(t, report); r.ListedFrom != "archive" || r.Expected != len(execs) || r.Complete != len(execs) || ended == 0 || r.PastRetention != ended || r.Equal != r.Sampled {
			t.Fatalf("intact %s, verified alone: %+v (%d ended)", dest[:5], r, ended)
		}
	}
	conn := pgtest.Conn(t, dbURL)
	var victim, altered string
	for _, e := range execs {
		if terminal(e) {
			if victim == "" {
				victim = e.ARN
			} else if altered == "" {
				altered = e.ARN
			}
		}
	}
	if _, err := conn.Exec(context.Background(), "DELETE FROM "+pgx.Identifier{s, "executions"}.Sanitize()+" WHERE execution_arn = $1", victim); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(context.Background(), "UPDATE "+pgx.Identifier{s, "events"}.Sanitize()+" SET event_type = 'Tampered' WHERE execution_arn = $1 AND event_id = 2", altered); err != nil {
		t.Fatal(err)
	}
	code, r := runVerify(t, url, dbURL, "--pg-schema", s)
	if code != exitFailed || len(r.Missing) != 1 || r.Missing[0] != victim || len(r.ContentDiffer) != 1 || !strings.Contains(r.ContentDiffer[0].What, "event 2: column event_type") {
		t.Fatalf("postgres: exit %d, missing %v, content %+v", code, r.Missing, r.ContentDiffer)
	}
	// S3: one executions object deleted.
	keys := s3test.Keys(t, srv3, bucket, "archive/executions/")
	if _, err := srv3.Client().DeleteObject(context.Background(), &s3.DeleteObjectInput{Bucket: aws.String(bucket), Key: aws.String(keys[0])}); err != nil {
		t.Fatal(err)
	}
	if code, r = runVerify(t, url, s3dest); code != exitFailed || len(r.Missing) == 0 {
		t.Fatalf("s3: exit %d, missing %v", code, r.Missing)
	}
}

// TestVerifyRetriesThrottling: verify's API calls are retried like a run's:
// throttled GetDurableExecution and history calls of a few executions are
// retried, and the archive still verifies clean; the report counts them.
func TestVerifyRetriesThrottling(t *testing.T) {
	dest := t.TempDir()
	var mu sync.Mutex
	verifying, throttled := false, map[string]int{}
	execs := emulator.Generate(42, 12, emulator.GenerateOptions{MaxOps: 30})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithFaults(func(_ int64, arn string) emulator.Fault {
		mu.Lock()
		defer mu.Unlock()
		// The first call for each of three executions, while verifying.
		if !verifying || arn == "" || !strings.Contains(arn, "durable-execution") || (len(throttled) >= 3 && throttled[arn] == 0) || throttled[arn] >= 1 {
			return emulator.NoFault
		}
		throttled[arn]++
		return emulator.Throttle
	}))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	if r := runCLI(t, "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	mu.Lock()
	verifying = true
	mu.Unlock()
	code, r := runVerify(t, url, dest)
	if len(throttled) != 3 {
		t.Fatalf("%d executions throttled, want 3", len(throttled))
	}
	if code != exitOK || r.Complete != r.Expected || len(r.Errors) != 0 || r.Equal != r.Sampled {
		t.Errorf("verify after throttling: exit %d, %d of %d complete, errors %v", code, r.Complete, r.Expected, r.Errors)
	}
	if r.APIRetries != 3 || r.APICalls < int64(r.Expected) {
		t.Errorf("the report counts %d retries (want 3) over %d calls", r.APIRetries, r.APICalls)
	}
}

// TestVerifyInChunks: verify reading a partition's rows one execution at a
// time (the smallest chunk) finds what reading it whole finds: an intact
// archive equal, an altered column named.
func TestVerifyInChunks(t *testing.T) {
	ctx := context.Background()
	dest, execs, client := verifyFixtureClient(t)
	reader := &rowsRecorder{read: map[string]bool{}}
	check := func(chunkRows int64) *verify.Report {
		t.Helper()
		var err error
		if reader.Parquet, err = load.OpenParquetDirForReading(dest); err != nil {
			t.Fatal(err)
		}
		archived, exp := archivedAndExpected(t, reader, execs)
		return verify.Check(ctx, client, reader, exp, archived, verify.Options{All: true, Concurrency: 4, ChunkRows: chunkRows})
	}
	whole, one := check(0), check(1)
	if !whole.OK() || !one.OK() || whole.Equal == 0 || one.Equal != whole.Equal || one.Sampled != whole.Sampled {
		t.Fatalf("intact archive: whole %+v, in chunks %+v", whole, one)
	}
	// Executions the API says are running (or paused) are counted, not
	// compared, and checked against their own executions rows.
	running := 0
	for _, e := range execs {
		out, err := extract.Describe(ctx, client, e.ARN)
		if err != nil {
			t.Fatal(err)
		}
		if out.Status == types.ExecutionStatusRunning || out.Status == types.ExecutionStatusPaused {
			running++
			if !reader.read[e.ARN] {
				t.Errorf("%s is running, and its rows were not read to check them against its executions row", e.ARN)
			}
		}
	}
	if running == 0 || whole.NotSampleable != running || whole.Running != running || whole.Equal != len(execs)-running ||
		whole.NotComparedSelfChecked != running || one.NotComparedSelfChecked != running {
		t.Errorf("%d running of %d: %d not sampleable (%d running), %d equal, %d and %d checked against their own rows",
			running, len(execs), whole.NotSampleable, whole.Running, whole.Equal, whole.NotComparedSelfChecked, one.NotComparedSelfChecked)
	}
	victim := renameOneOperation(t, dest, execs)
	if r := check(1); len(r.ContentDiffer) != 1 || r.ContentDiffer[0].ExecutionArn != victim || r.Equal != whole.Equal-1 {
		t.Fatalf("altered column, in chunks: %+v", r)
	}
}

// rowsRecorder is a Parquet archive's reader that notes whose rows were
// asked for.
type rowsRecorder struct {
	*load.Parquet
	mu   sync.Mutex
	read map[string]bool
}

func (r *rowsRecorder) Rows(ctx context.Context, states []load.ExecutionState) (map[string]*load.ExecutionRows, error) {
	r.mu.Lock()
	for _, st := range states {
		r.read[st.Arn] = true
	}
	r.mu.Unlock()
	return r.Parquet.Rows(ctx, states)
}

// TestVerifyGoneFromAPI: an execution archived in a terminal state that the
// service has since forgotten (its retention passed) counts as complete and
// gone, neither compared nor an error, even when its content comparison was
// to share a task with its check; every other execution is still compared.
func TestVerifyGoneFromAPI(t *testing.T) {
	ctx := context.Background()
	dest, execs, client := verifyFixtureClient(t)
	gone := -1
	for i, e := range execs {
		if out, err := extract.Describe(ctx, client, e.ARN); err == nil && load.Terminal(string(out.Status)) {
			gone = i
			break
		}
	}
	if gone < 0 {
		t.Fatal("the fixture has no ended execution")
	}
	kept := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	kept.Add(append(slices.Clone(execs[:gone]), execs[gone+1:]...)...)
	_, keptClient := emulatortest.Start(t, kept)
	reader, err := load.OpenParquetDirForReading(dest)
	if err != nil {
		t.Fatal(err)
	}
	archived, exp := archivedAndExpected(t, reader, execs)
	full := verify.Check(ctx, client, reader, slices.Clone(exp), archived, verify.Options{All: true, Concurrency: 4, ChunkRows: 1})
	rep := verify.Check(ctx, keptClient, reader, exp, archived, verify.Options{All: true, Concurrency: 4, ChunkRows: 1})
	if !rep.OK() || rep.GoneFromAPI != 1 || rep.Complete != len(execs) || len(rep.Errors) != 0 {
		t.Fatalf("one execution forgotten: ok %v, %d gone, %d of %d complete, errors %v", rep.OK(), rep.GoneFromAPI, rep.Complete, len(execs), rep.Errors)
	}
	if rep.Sampled != full.Sampled-1 || rep.Equal != rep.Sampled || rep.NotSampleable != full.NotSampleable {
		t.Errorf("compared %d (%d equal), %d not comparable; with every execution known: %d, %d", rep.Sampled, rep.Equal, rep.NotSampleable, full.Sampled, full.NotSampleable)
	}
}

// verifyInProcess returns a verification of every execution of execs
// archived in the local archive dir against the API at url, comparing
// whole or, with streamRows, streamed past that many rows.
func verifyInProcess(t *testing.T, dir, url string, execs []emulator.Execution) func(streamRows int64) *verify.Report {
	check := verifyRecorded(t, dir, url, execs)
	return func(streamRows int64) *verify.Report {
		v, _ := check(streamRows)
		return v
	}
}

// verifyRecorded is verifyInProcess that also hands over the reader's
// counts (streamRecorder).
func verifyRecorded(t *testing.T, dir, url string, execs []emulator.Execution) func(streamRows int64) (*verify.Report, *streamRecorder) {
	ctx := context.Background()
	client, err := extract.NewClient(ctx, extract.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	return func(streamRows int64) (*verify.Report, *streamRecorder) {
		reader, err := load.OpenParquetDirForReading(dir)
		if err != nil {
			t.Fatal(err)
		}
		rec := &streamRecorder{SnapshotReader: reader, rs: reader}
		archived, exp := archivedAndExpected(t, rec, execs)
		return verify.Check(ctx, client, rec, exp, archived, verify.Options{All: true, Concurrency: 2, StreamRows: streamRows}), rec
	}
}

// checkAlteredEventFound alters the first event of target in the Parquet
// archive dir (its execution_timeout_seconds) and checks that verify
// against url, whole and streamed, names that difference and no other.
func checkAlteredEventFound(t *testing.T, dir, url string, execs []emulator.Execution, target string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
	for _, f := range files {
		rewriteFile(t, f, func(rows []schema.Event) []schema.Event {
			for i := range rows {
				if rows[i].ExecutionArn == target && rows[i].EventID == 1 {
					rows[i].ExecutionTimeoutSeconds = new(int32(7))
				}
			}
			return rows
		})
	}
	check := verifyInProcess(t, dir, url, execs)
	for _, streamRows := range []int64{0, 1} {
		v := check(streamRows)
		if len(v.ContentDiffer) != 1 || v.ContentDiffer[0].ExecutionArn != target || !strings.Contains(v.ContentDiffer[0].What, "event 1: column execution_timeout_seconds") {
			t.Errorf("streamRows %d: event 1 of %s altered: differing %v, errors %v", streamRows, target, v.ContentDiffer, v.Errors)
		}
	}
}

// archivedAndExpected is what verify takes for an archive of execs: the
// archive's newest snapshots and every execution expected.
func archivedAndExpected(t *testing.T, reader load.SnapshotReader, execs []emulator.Execution) (map[string]load.ExecutionState, []verify.Execution) {
	t.Helper()
	archived, err := reader.Latest(context.Background(), nil)
	if err != nil {
		t.Fatal(err)
	}
	var exp []verify.Execution
	for _, e := range execs {
		exp = append(exp, verify.Execution{ARN: e.ARN, Token: e.Token}) // a token: state snapshots are compared too
	}
	return archived, exp
}

// TestVerifyStateWithHistory: executions archived through state with
// --history (their operations from state, their events from history)
// verify equal in Parquet and Postgres, whole and streamed, and an
// altered event is found; so too once a later run without --history
// archived a newer snapshot beside the events of the earlier one, whose
// state is read once all the same.
func TestVerifyStateWithHistory(t *testing.T) {
	execs := emulator.Generate(53, 16, emulator.GenerateOptions{MinOps: 5, MaxOps: 30, Settled: true})
	srv := emulator.New(emulator.WithFunctions(emulator.FunctionNames...))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir := t.TempDir()
	dbURL, s := pgtest.Schema(t)
	manifest := manifestFile(t, execs)
	run := func(extra ...string) {
		t.Helper()
		args := append([]string{"run", "--manifest", manifest, "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url}, extra...)
		if r := runCLI(t, args...); r.code != 0 {
			t.Fatalf("run %v: exit %d", extra, r.code)
		}
	}
	verifyAll := func(dest string) (int, verify.Report) {
		report := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, "verify", "--manifest", manifest, "--dest", dest, "--pg-schema", s, "--endpoint-url", url, "--all", "--report", report)
		return r.code, readVerify(t, report)
	}
	var victim string
	for _, e := range execs {
		if terminal(e) {
			victim = e.ARN
			break
		}
	}
	run("--history")
	for _, stage := range []string{"with --history", "then without"} {
		for _, dest := range []string{dir, dbURL} {
			before := srv.Requests("state", victim)
			if code, r := verifyAll(dest); code != 0 || r.Sampled == 0 || r.Equal != r.Sampled || len(r.ContentDiffer) != 0 {
				t.Errorf("%s, %s: exit %d, %d sampled, %d equal, differing %v", stage, dest[:4], code, r.Sampled, r.Equal, r.ContentDiffer)
			}
			if n := srv.Requests("state", victim) - before; n != 1 {
				t.Errorf("%s, %s: %s's state (one page) read in %d calls", stage, dest[:4], victim, n)
			}
		}
		check := verifyRecorded(t, dir, url, execs)
		for _, streamRows := range []int64{0, 1} {
			before := srv.Requests("state", victim)
			v, rec := check(streamRows)
			if v.Sampled == 0 || v.Equal != v.Sampled {
				t.Errorf("%s, streamRows %d: %d sampled, %d equal, differing %v, errors %v", stage, streamRows, v.Sampled, v.Equal, v.ContentDiffer, v.Errors)
			}
			if n := srv.Requests("state", victim) - before; n != 1 {
				t.Errorf("%s, streamRows %d: %s's state (one page) read in %d calls", stage, streamRows, victim, n)
			}
			// Each execution's operations are read once: the events
			// beside an older snapshot are streamed again alone.
			// (Those not compared, checked against their own rows, once
			// more each.)
			if want := int64(v.Sampled + v.NotComparedSelfChecked); streamRows == 1 && rec.opStreams.Load() != want {
				t.Errorf("%s, streamed: the operations of %d executions read in %d streams", stage, want, rec.opStreams.Load())
			}
		}
		run("--force") // a newer snapshot of each, without its history
	}
	if n := len(tableRows[schema.Event](t, dir, "events")); n == 0 {
		t.Fatal("no events archived")
	}
	checkAlteredEventFound(t, dir, url, execs, victim)
}

// TestGCPacing: run and verify run the collector at GOGC 200 while their
// memory limit holds (the default), leave the runtime's pacing alone with
// --memory-limit 0, and a GOGC of the user's wins.
func TestGCPacing(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "archive")
	_, url, _ := verifyFixture(t, dest, nil)
	_, runURL, manifest, _ := fixture(t, 2)
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(-1))
	commands := map[string]func(extra []string) bool{
		"verify": func(extra []string) bool {
			code, rep := runVerify(t, url, dest, extra...)
			return code == 0 && rep.Equal > 0
		},
		"run": func(extra []string) bool {
			args := append([]string{"run", "--manifest", manifest, "--dest", filepath.Join(t.TempDir(), "a"), "--endpoint-url", runURL}, extra...)
			return runCLI(t, args...).code == 0
		},
	}
	for name, ok := range commands {
		for _, c := range []struct {
			gogc  string
			extra []string
			want  int
		}{
			{"", nil, map[string]int{"verify": verifyGCPercent, "run": runGCPercent}[name]},
			{"", []string{"--memory-limit", "0"}, 100},
			{"150", nil, 100},
		} {
			t.Setenv("GOGC", c.gogc)
			debug.SetGCPercent(100)
			if !ok(c.extra) {
				t.Fatalf("%s GOGC=%q %v failed", name, c.gogc, c.extra)
			}
			if got := debug.SetGCPercent(100); got != c.want {
				t.Errorf("%s GOGC=%q %v: ran at GOGC %d, want %d", name, c.gogc, c.extra, got, c.want)
			}
		}
	}
}

// streamRecorder is an archive's reader that counts the executions read
// whole (Rows) and as streams (EachRow), and the streams that read the
// operations table.
type streamRecorder struct {
	load.SnapshotReader
	rs                       load.RowStreamer
	whole, stream, opStreams atomic.Int64
	inFlight, maxInFlight    atomic.Int64 // EachRow calls under way
}

func (r *streamRecorder) Rows(ctx context.Context, states []load.ExecutionState) (map[string]*load.ExecutionRows, error) {
	r.whole.Add(int64(len(states)))
	return r.SnapshotReader.Rows(ctx, states)
}

func (r *streamRecorder) EachRow(ctx context.Context, st load.ExecutionState, ex func(*schema.Execution), op func(*schema.Operation), ev func(*schema.Event)) error {
	r.stream.Add(1)
	if op != nil {
		r.opStreams.Add(1)
	}
	n := r.inFlight.Add(1)
	defer r.inFlight.Add(-1)
	for m := r.maxInFlight.Load(); n > m && !r.maxInFlight.CompareAndSwap(m, n); m = r.maxInFlight.Load() {
	}
	return r.rs.EachRow(ctx, st, ex, op, ev)
}

// StoredForm passes Postgres's on, as verify asks for it.
func (r *streamRecorder) StoredForm(row any) {
	if sf, ok := r.SnapshotReader.(interface{ StoredForm(row any) }); ok {
		sf.StoredForm(row)
	}
}

// TestVerifyStreamed: executions compared as streams (each execution's
// rows reduced to hashes, as verify does for one larger than a chunk) find
// exactly what comparing them whole finds, word for word, in local Parquet
// and in Postgres (and intact on S3): an intact archive equal; an altered operation column, a
// lost operation, an altered event column, a lost event, an event the API
// does not have, and an altered content_hash each named; no execution is
// read whole; and with a budget of one row, one execution at a time is
// compared as a stream.
func TestVerifyStreamed(t *testing.T) {
	ctx := context.Background()
	dbURL, pgSchema := pgtest.Schema(t)
	srv3, bucket := s3test.Bucket(t)
	dir := filepath.Join(t.TempDir(), "archive")
	_, url, execs := verifyFixture(t, dir, func() { srv3.Env(t) }, "--dest", dbURL, "--pg-schema", pgSchema, "--migrate", "--dest", "s3://"+bucket+"/archive")
	client, err := extract.NewClient(ctx, extract.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	var victims []string // terminal executions with events, one per tampering
	for _, e := range execs {
		if terminal(e) && e.History != nil && len(victims) < 6 {
			victims = append(victims, e.ARN)
		}
	}
	if len(victims) < 6 {
		t.Fatalf("%d terminal executions with a history, want 6", len(victims))
	}
	compare := func(t *testing.T, open func() load.SnapshotReader, wantDiffer int) {
		t.Helper()
		var reports [2]*verify.Report
		for i, streamRows := range []int64{0, 1} {
			reader := open()
			rec := &streamRecorder{SnapshotReader: reader, rs: reader.(load.RowStreamer)}
			archived, exp := archivedAndExpected(t, rec, execs)
			reports[i] = verify.Check(ctx, client, rec, exp, archived, verify.Options{All: true, Concurrency: 4, StreamRows: streamRows, StreamBudget: streamRows})
			if streamRows == 1 && (rec.whole.Load() != 0 || rec.stream.Load() == 0 || rec.maxInFlight.Load() != 1) {
				t.Errorf("streamed: %d executions read whole, %d as streams, at most %d at once", rec.whole.Load(), rec.stream.Load(), rec.maxInFlight.Load())
			}
		}
		whole, streamed := reports[0], reports[1]
		if whole.Equal == 0 || whole.Sampled != streamed.Sampled || whole.Equal != streamed.Equal || len(whole.Errors)+len(streamed.Errors) != 0 ||
			!slices.Equal(whole.ContentDiffer, streamed.ContentDiffer) {
			t.Fatalf("whole: %d sampled, %d equal, %+v, errors %v\nstreamed: %d sampled, %d equal, %+v, errors %v",
				whole.Sampled, whole.Equal, whole.ContentDiffer, whole.Errors, streamed.Sampled, streamed.Equal, streamed.ContentDiffer, streamed.Errors)
		}
		if len(whole.ContentDiffer) != wantDiffer {
			t.Fatalf("%d differences found, want %d: %+v", len(whole.ContentDiffer), wantDiffer, whole.ContentDiffer)
		}
		t.Logf("both: %+v", whole.ContentDiffer)
	}
	t.Run("s3", func(t *testing.T) {
		compare(t, func() load.SnapshotReader {
			pq, err := load.NewParquetS3(ctx, srv3.Client(), bucket, "archive", "", load.S3Options{StaleUploadAge: -1})
			if err != nil {
				t.Fatal(err)
			}
			return pq
		}, 0)
	})
	t.Run("parquet", func(t *testing.T) {
		open := func() load.SnapshotReader {
			pq, err := load.OpenParquetDirForReading(dir)
			if err != nil {
				t.Fatal(err)
			}
			return pq
		}
		compare(t, open, 0)
		files := func(table string) []string {
			f, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
			return f
		}
		// Rows written before December 2026 hold an empty Error's whole
		// details object in overflow_json: equal to today's by meaning.
		converted := 0
		for _, f := range files("events") {
			rewriteFile(t, f, func(rows []schema.Event) []schema.Event {
				for i := range rows {
					if old, ok := optest.WholeOverflow(&rows[i]); ok && old != *rows[i].OverflowJSON {
						rows[i].OverflowJSON = &old
						converted++
					}
				}
				return rows
			})
		}
		if converted == 0 {
			t.Fatal("no event row's overflow_json has a form of its own before December 2026: the fixture has no empty Error")
		}
		compare(t, open, 0)
		for _, f := range files("operations") {
			rewriteFile(t, f, func(rows []schema.Operation) []schema.Operation {
				out := rows[:0]
				lost := false
				for _, r := range rows {
					switch {
					case r.ExecutionArn == victims[0] && r.Seq == 1:
						r.Name = aws.String("tampered")
					case r.ExecutionArn == victims[1] && r.Seq == 2 && !lost:
						lost = true
						continue
					}
					out = append(out, r)
				}
				return out
			})
		}
		for _, f := range files("events") {
			rewriteFile(t, f, func(rows []schema.Event) []schema.Event {
				out := rows[:0:0]
				for _, r := range rows {
					switch r.ExecutionArn {
					case victims[2]:
						if r.EventID == 3 {
							r.EventType = "Tampered"
						}
					case victims[3]:
						if r.EventID == 2 {
							continue
						}
					case victims[4]:
						if r.EventID == 1 {
							extra := r
							extra.EventID = 1 << 30
							out = append(out, extra)
						}
					}
					out = append(out, r)
				}
				return out
			})
		}
		for _, f := range files("executions") {
			rewriteFile(t, f, func(rows []schema.Execution) []schema.Execution {
				for i := range rows {
					if rows[i].ExecutionArn == victims[5] {
						rows[i].ContentHash = strings.Repeat("0", 64)
					}
				}
				return rows
			})
		}
		compare(t, open, 6)
	})
	t.Run("postgres", func(t *testing.T) {
		open := func() load.SnapshotReader {
			pg, err := load.NewPostgres(ctx, dbURL, load.WithPGSchema(pgSchema))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { pg.Close(context.Background()) })
			return pg
		}
		compare(t, open, 0)
		conn := pgtest.Conn(t, dbURL)
		table := func(name string) string { return pgx.Identifier{pgSchema, name}.Sanitize() }
		for _, q := range []struct {
			sql string
			arn string
		}{
			{"UPDATE " + table("operations") + " SET name = 'tampered' WHERE execution_arn = $1 AND seq = 1", victims[0]},
			{"DELETE FROM " + table("operations") + " WHERE execution_arn = $1 AND seq = 2", victims[1]},
			{"UPDATE " + table("events") + " SET event_type = 'Tampered' WHERE execution_arn = $1 AND event_id = 3", victims[2]},
			{"DELETE FROM " + table("events") + " WHERE execution_arn = $1 AND event_id = 2", victims[3]},
			{"UPDATE " + table("executions") + " SET content_hash = repeat('0', 64) WHERE execution_arn = $1", victims[5]},
		} {
			if tag, err := conn.Exec(ctx, q.sql, q.arn); err != nil || tag.RowsAffected() != 1 {
				t.Fatalf("%s: %v, %d rows", q.sql, err, tag.RowsAffected())
			}
		}
		compare(t, open, 5)
	})
}

// TestVerifyStreamedWithoutEventIDs: an execution whose events carry no
// EventId (each keyed by minus its position in the history) verifies equal
// whole and streamed, and both name the same difference once one of its
// operations is altered.
func TestVerifyStreamedWithoutEventIDs(t *testing.T) {
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	exec := types.Operation{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: types.OperationStatusSucceeded,
		StartTimestamp: &start, EndTimestamp: aws.Time(start.Add(time.Hour))}
	var events []types.Event
	for i := range 40 {
		id, at := fmt.Sprint("step-", i), start.Add(time.Duration(i)*time.Second)
		events = append(events,
			types.Event{Id: &id, EventType: types.EventTypeStepStarted, EventTimestamp: &at, StepStartedDetails: &types.StepStartedDetails{}},
			types.Event{Id: &id, EventType: types.EventTypeStepSucceeded, EventTimestamp: &at,
				StepSucceededDetails: &types.StepSucceededDetails{Result: &types.EventResult{Payload: aws.String(fmt.Sprint(i))}}})
	}
	e := emulator.Fixed("arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/no-ids/0001", "", []types.Operation{exec})
	e.History = emulator.FixedHistory(events)
	checkWholeAndStreamed(t, e, 3)
}

// checkWholeAndStreamed archives e alone, then checks that verify, whole
// and streamed, finds it equal, and names the same difference (a column
// name) once its operation row at altered is altered.
func checkWholeAndStreamed(t *testing.T, e emulator.Execution, altered int) {
	t.Helper()
	srv := emulator.New()
	srv.Add(e)
	url, _ := emulatortest.Start(t, srv)
	dir := filepath.Join(t.TempDir(), "archive")
	if r := runCLI(t, "run", "--manifest", manifestFile(t, []emulator.Execution{e}), "--dest", dir, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	check := verifyInProcess(t, dir, url, []emulator.Execution{e})
	if whole, streamed := check(0), check(1); whole.Equal != 1 || streamed.Equal != 1 || len(streamed.Errors) != 0 || len(whole.ContentDiffer) != 0 || len(streamed.ContentDiffer) != 0 {
		t.Fatalf("intact: whole %+v, streamed %+v", whole, streamed)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "operations", "dt=*", "*.parquet"))
	rewriteFile(t, files[0], func(rows []schema.Operation) []schema.Operation {
		rows[altered].Name = aws.String("tampered")
		return rows
	})
	whole, streamed := check(0), check(1)
	if len(streamed.ContentDiffer) != 1 || !strings.Contains(streamed.ContentDiffer[0].What, "column name") || !slices.Equal(whole.ContentDiffer, streamed.ContentDiffer) {
		t.Fatalf("altered: whole %+v, streamed %+v", whole.ContentDiffer, streamed.ContentDiffer)
	}
}

// TestVerifyInRounds: an account verified in rounds of a few executions
// reports what one round reports (every execution compared, one altered,
// one listed but never archived), from a manifest's listing and from
// discovery's, each round holding the states of its own executions only;
// a sample is shared among the rounds, whole.
func TestVerifyInRounds(t *testing.T) {
	ctx := context.Background()
	dest, execs, client := verifyFixtureClient(t)
	victim := renameOneOperation(t, dest, execs)
	unarchived := strings.Replace(execs[0].ARN, "durable-execution/", "durable-execution/never-archived-", 1)
	// A manifest without start times (its rounds read every date), and
	// one as etl discover writes it, with them (its rounds read their
	// own dates; the unarchived execution has none: last, in a round
	// that reads every date).
	lines := []string{fmt.Sprintf(`{"DurableExecutionArn":%q}`, unarchived)}
	dated := slices.Clone(lines)
	for _, e := range execs {
		lines = append(lines, fmt.Sprintf(`{"DurableExecutionArn":%q}`, e.ARN))
		dated = append(dated, fmt.Sprintf(`{"DurableExecutionArn":%q,"StartTimestamp":%q}`, e.ARN, e.Op(0).StartTimestamp.Format(time.RFC3339Nano)))
	}
	manifestOf := func(lines []string, reader load.DatedLister) listing {
		t.Helper()
		m, err := extract.NewManifest("test", []byte(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		l, err := listManifest(ctx, m, reader)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.close() })
		return l
	}
	archived, err := load.OpenParquetDirForReading(dest)
	if err != nil {
		t.Fatal(err)
	}
	// Without start times, dated by the archive (every executions file's
	// ARNs read once): its rounds read their own dates too; dated by an
	// archive that holds none of them, every round reads every date.
	none, err := load.OpenParquetDirForReading(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	manifest, datedManifest, archiveDated := manifestOf(lines, none), manifestOf(dated, none), manifestOf(lines, archived)
	found, fns, err := discover(ctx, client, discovery.Config{All: true}, func(msg string, args ...any) { t.Log(append([]any{msg}, args...)...) })
	if err != nil {
		t.Fatal(err)
	}
	defer found.Close()
	if found.Len() != len(execs) {
		t.Fatalf("discover: %d executions of %d", found.Len(), len(execs))
	}
	var rec *latestRecorder
	check := func(listed listing, roundSize int, o verify.Options) (*verify.Report, []int) {
		t.Helper()
		pq, err := load.OpenParquetDirForReading(dest)
		if err != nil {
			t.Fatal(err)
		}
		rec = &latestRecorder{Parquet: pq}
		o.Concurrency, o.RoundSize = 4, roundSize
		rep, err := verify.InRounds(ctx, client, rec, listed, o)
		if err != nil {
			t.Fatal(err)
		}
		return rep, rec.kept
	}
	for _, c := range []struct {
		name    string
		listed  listing
		missing []string
	}{{"manifest", manifest, []string{unarchived}}, {"dated manifest", datedManifest, []string{unarchived}}, {"manifest dated by the archive", archiveDated, []string{unarchived}}, {"discovery", foundListing{found: found, fns: fns}, []string{}}} {
		t.Run(c.name, func(t *testing.T) {
			n := c.listed.Len()
			one, kept := check(c.listed, 0, verify.Options{All: true})
			if len(kept) != 1 || kept[0] != len(execs) {
				t.Fatalf("one round: states kept per round %v, want [%d]", kept, len(execs))
			}
			if !slices.Equal(one.Missing, c.missing) || len(one.ContentDiffer) != 1 || one.ContentDiffer[0].ExecutionArn != victim || one.Equal == 0 {
				t.Fatalf("one round: %+v", one)
			}
			rounds, kept := check(c.listed, 4, verify.Options{All: true})
			if want := (n + 3) / 4; len(kept) != want || slices.Max(kept) > 4 {
				t.Fatalf("rounds of 4 over %d executions: states kept per round %v, want %d rounds of at most 4", n, kept, want)
			}
			// Discovery's rounds and a dated manifest's read the start
			// dates of their executions only (from the first's to the
			// last's: the list is in order of start), but for a round
			// with one of no start; an undated manifest's, every one.
			var spans []string
			for r := range kept {
				span := ""
				lo, hi := r*n/len(kept), (r+1)*n/len(kept)
				undated := false
				for i := lo; i < hi; i++ {
					undated = undated || c.listed.At(i).ARN == unarchived
				}
				if c.name != "manifest" && !undated {
					from, to := startDate(t, execs, c.listed.At(lo).ARN), startDate(t, execs, c.listed.At(hi-1).ARN)
					span = from + ".." + to
					for i := lo; i < hi; i++ { // so no other date holds them
						if d := startDate(t, execs, c.listed.At(i).ARN); d < from || d > to {
							t.Errorf("round %d (%s) lists an execution started on %s", r, span, d)
						}
					}
				}
				spans = append(spans, span)
			}
			if !slices.Equal(rec.spans, spans) {
				t.Errorf("start dates read per round %q, want %q", rec.spans, spans)
			}
			if !reflect.DeepEqual(one, rounds) {
				t.Fatalf("in rounds:\n%+v\nin one:\n%+v", rounds, one)
			}
			sampled, _ := check(c.listed, 4, verify.Options{Sample: 5, Seed: 3})
			if sampled.Sampled+sampled.NotSampleable != 5 || sampled.Complete != one.Complete || !slices.Equal(sampled.Missing, one.Missing) {
				t.Fatalf("--sample 5 in rounds of 4: %d sampled, %d not sampleable, %d complete (want 5 drawn, %d complete)",
					sampled.Sampled, sampled.NotSampleable, sampled.Complete, one.Complete)
			}
		})
	}
	// An execution archived under a date other than its listed start's
	// (a snapshot taken before its start was known) is not missing: a
	// round of its own looks for it in every partition.
	t.Run("archived under another date", func(t *testing.T) {
		listed := foundListing{found: found, fns: fns}
		before, _ := check(listed, 4, verify.Options{All: true})
		i := slices.IndexFunc(execs, func(e emulator.Execution) bool { return terminal(e) && e.ARN != victim })
		arn := execs[i].ARN
		moveRows(t, dest, "executions", arn, "2020-01-01", func(r *schema.Execution) string { return r.ExecutionArn })
		moveRows(t, dest, "operations", arn, "2020-01-01", func(r *schema.Operation) string { return r.ExecutionArn })
		moveRows(t, dest, "events", arn, "2020-01-01", func(r *schema.Event) string { return r.ExecutionArn })
		after, kept := check(listed, 4, verify.Options{All: true})
		if !reflect.DeepEqual(before, after) {
			t.Fatalf("moved to another date:\n%+v\nbefore:\n%+v", after, before)
		}
		if last := len(kept) - 1; kept[last] != 1 || rec.spans[last] != "" {
			t.Errorf("states kept per round %v, start dates read %q: want a last round of 1 over every date", kept, rec.spans)
		}
		// And one not archived at all is missing, once.
		j := slices.IndexFunc(execs, func(e emulator.Execution) bool { return e.ARN != victim && e.ARN != arn })
		gone := execs[j].ARN
		moveRows(t, dest, "executions", gone, "2019-01-01", func(r *schema.Execution) string { return r.ExecutionArn })
		for _, table := range []string{"executions", "operations", "events"} {
			os.RemoveAll(filepath.Join(dest, table, "dt=2019-01-01"))
		}
		lost, _ := check(listed, 4, verify.Options{All: true})
		if !slices.Equal(lost.Missing, []string{gone}) || lost.Complete != before.Complete-1 {
			t.Errorf("one execution removed: missing %v, %d complete; want [%s], %d", lost.Missing, lost.Complete, gone, before.Complete-1)
		}
	})
}

// startDate is the UTC date execution arn of execs started on.
func startDate(t *testing.T, execs []emulator.Execution, arn string) string {
	t.Helper()
	for _, e := range execs {
		if e.ARN == arn {
			return e.Op(0).StartTimestamp.UTC().Format(time.DateOnly)
		}
	}
	t.Fatalf("%s is not one of the executions", arn)
	return ""
}

// moveRows moves the rows of execution arn in table's files to a file of
// partition dt, as a snapshot archived under another start date would be.
func moveRows[T any](t *testing.T, dest, table, arn, dt string, arnOf func(*T) string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dest, table, "dt=*", "*.parquet"))
	var moved []T
	for _, f := range files {
		if !slices.ContainsFunc(readFileRows[T](t, f), func(r T) bool { return arnOf(&r) == arn }) {
			continue
		}
		rewriteFile(t, f, func(rows []T) []T {
			return slices.DeleteFunc(rows, func(r T) bool {
				if arnOf(&r) == arn {
					moved = append(moved, r)
					return true
				}
				return false
			})
		})
	}
	if len(moved) == 0 {
		t.Fatalf("no %s row of %s", table, arn)
	}
	dir := filepath.Join(dest, table, "dt="+dt)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := parquet.WriteFile(filepath.Join(dir, "moved.parquet"), moved); err != nil {
		t.Fatal(err)
	}
}

// latestRecorder is a Parquet archive's reader that notes how many states
// each Latest or LatestIn kept, and the start dates each read ("" for
// every one).
type latestRecorder struct {
	*load.Parquet
	kept  []int
	spans []string
}

func (r *latestRecorder) Latest(ctx context.Context, keep func(arn string) bool) (map[string]load.ExecutionState, error) {
	out, err := r.Parquet.Latest(ctx, keep)
	r.kept, r.spans = append(r.kept, len(out)), append(r.spans, "")
	return out, err
}

func (r *latestRecorder) LatestIn(ctx context.Context, from, to string, keep func(arn string) bool) (map[string]load.ExecutionState, error) {
	out, err := r.Parquet.LatestIn(ctx, from, to, keep)
	r.kept, r.spans = append(r.kept, len(out)), append(r.spans, from+".."+to)
	return out, err
}

// TestVerifyAsksDeniedFunctionFewTimes: verify --all with a policy that
// lets it list a function's executions but not read them makes a few
// denied calls for that function, not one for each execution (as etl run
// stops asking): each of its executions is named in the report's errors
// as denied, the other functions' are compared and equal.
func TestVerifyAsksDeniedFunctionFewTimes(t *testing.T) {
	execs := emulator.Generate(43, 300, emulator.GenerateOptions{MinOps: 2, MaxOps: 6})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dest := filepath.Join(t.TempDir(), "archive")
	if r := runCLI(t, "run", "--all-functions", "--dest", dest, "--endpoint-url", url, "--log-level", "warn"); r.code != 0 {
		t.Fatalf("run: exit %d", r.code)
	}
	denying := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithDeniedReads("payments"))
	denying.Add(execs...)
	deniedURL, _ := emulatortest.Start(t, denying)
	code, rep := runVerify(t, deniedURL, dest, "--concurrency", "2")
	if code != 1 {
		t.Errorf("verify: exit %d, want 1 (executions not checked)", code)
	}
	var calls int64
	qualifiers := map[string]bool{}
	for _, e := range execs {
		if !strings.Contains(e.ARN, ":function:payments:") {
			continue
		}
		head, _, _ := strings.Cut(e.ARN, "/durable-execution/")
		qualifiers[head] = true
		for _, op := range []string{"get", "history", "state"} {
			calls += denying.Requests(op, e.ARN)
		}
	}
	notAsked := 0
	for _, d := range rep.Errors {
		if !strings.Contains(d.ExecutionArn, ":function:payments:") || !strings.Contains(d.What, "AccessDeniedException") {
			t.Errorf("error %+v: want payments' denied alone", d)
		}
		if strings.Contains(d.What, "not asked") {
			notAsked++
		}
	}
	// Each qualifier's first reads are denied, and those in flight then.
	if limit := int64(len(qualifiers) * (extract.DeniedAfter + 1)); calls > limit || notAsked == 0 || len(rep.Errors) < 40 {
		t.Errorf("%d denied calls, %d executions not checked, %d not asked: want at most %d calls for 40 or more", calls, len(rep.Errors), notAsked, limit)
	}
	if rep.Equal != rep.Sampled || rep.Equal == 0 {
		t.Errorf("%d compared, %d equal: want every other function's equal", rep.Sampled, rep.Equal)
	}
	t.Logf("%d denied calls for %d executions of payments not checked (%d not asked)", calls, len(rep.Errors), notAsked)
}

// TestVerifyStateByHistory: executions archived through state with
// --history verify with no token to read their state again (by
// --all-functions, a manifest without tokens, one whose tokens the API
// refuses) by their history alone: equal in Parquet and Postgres, whole
// and streamed, each ended one counted in compared_by_history, a refused
// token named in tokens_refused and not an error. An altered event, and
// an altered column of GetDurableExecution's in the executions row, are
// found so. Once a newer snapshot was archived without --history, a
// refused token leaves the execution not compared, still no error.
func TestVerifyStateByHistory(t *testing.T) {
	execs := emulator.Generate(57, 16, emulator.GenerateOptions{MinOps: 5, MaxOps: 30})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	dir := t.TempDir()
	dbURL, s := pgtest.Schema(t)
	run := func(extra ...string) {
		t.Helper()
		args := append([]string{"run", "--manifest", manifestFile(t, execs), "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--migrate", "--endpoint-url", url}, extra...)
		if r := runCLI(t, args...); r.code != 0 {
			t.Fatalf("run %v: exit %d", extra, r.code)
		}
	}
	run("--history")
	noTokens, stale := make([]emulator.Execution, len(execs)), make([]emulator.Execution, len(execs))
	ended := 0
	for i, e := range execs {
		noTokens[i], stale[i] = e, e
		noTokens[i].Token, stale[i].Token = "", "stale-"+e.Token
		if terminal(e) {
			ended++
		}
	}
	if ended == 0 || ended == len(execs) {
		t.Fatalf("%d of %d executions ended: the test needs both", ended, len(execs))
	}
	var metrics string // the last verify's
	verifyBy := func(dest string, how ...string) (int, verify.Report) {
		t.Helper()
		report := filepath.Join(t.TempDir(), "v.json")
		metrics = filepath.Join(t.TempDir(), "v.prom")
		r := runCLI(t, append([]string{"verify", "--dest", dest, "--pg-schema", s, "--endpoint-url", url, "--all", "--report", report, "--metrics-file", metrics}, how...)...)
		return r.code, readVerify(t, report)
	}
	metricsSay := func(want map[string]int, success int) {
		t.Helper()
		b, err := os.ReadFile(metrics)
		if err != nil {
			t.Fatal(err)
		}
		for result, n := range want {
			if line := fmt.Sprintf("durable_etl_verify_executions{result=%q} %d\n", result, n); !strings.Contains(string(b), line) {
				t.Errorf("the metrics lack %q:\n%s", line, b)
			}
		}
		if line := fmt.Sprintf("durable_etl_verify_success %d\n", success); !strings.Contains(string(b), line) {
			t.Errorf("the metrics lack %q:\n%s", line, b)
		}
	}
	ways := []struct {
		name    string
		how     []string
		refused int
	}{
		{"--all-functions", []string{"--all-functions"}, 0},
		{"no tokens", []string{"--manifest", manifestFile(t, noTokens)}, 0},
		{"stale tokens", []string{"--manifest", manifestFile(t, stale)}, ended},
	}
	for _, w := range ways {
		for _, dest := range []string{dir, dbURL} {
			code, r := verifyBy(dest, w.how...)
			if code != 0 || r.Sampled != ended || r.Equal != ended || r.ByHistory != ended || len(r.TokensRefused) != w.refused || len(r.Errors) != 0 {
				t.Errorf("%s, %s: exit %d, %d sampled, %d equal, %d by history, %d tokens refused (want %d of each, %d refused), errors %v, differing %v",
					w.name, dest[:4], code, r.Sampled, r.Equal, r.ByHistory, len(r.TokensRefused), ended, w.refused, r.Errors, r.ContentDiffer)
			}
			metricsSay(map[string]int{"expected": len(execs), "sampled": ended, "sampled_equal": ended, "compared_by_history": ended,
				"tokens_refused": w.refused, "not_compared": len(execs) - ended, "not_compared_running": len(execs) - ended, "content_differs": 0,
				"self_checked": len(execs) - ended, "not_compared_self_checked": len(execs) - ended, "inconsistent": 0}, 1)
		}
	}
	check := verifyInProcess(t, dir, url, noTokens)
	for _, streamRows := range []int64{0, 1} {
		if v := check(streamRows); v.Sampled != ended || v.Equal != ended || v.ByHistory != ended {
			t.Errorf("streamRows %d: %d sampled, %d equal, %d by history, differing %v, errors %v", streamRows, v.Sampled, v.Equal, v.ByHistory, v.ContentDiffer, v.Errors)
		}
	}

	// An executions row altered in a column GetDurableExecution gives.
	var victims []string
	for _, e := range execs {
		if terminal(e) {
			victims = append(victims, e.ARN)
		}
	}
	conn, err := pgx.Connect(context.Background(), dbURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(context.Background(), "UPDATE "+pgx.Identifier{s, "executions"}.Sanitize()+" SET version = '99' WHERE execution_arn = $1", victims[0]); err != nil {
		t.Fatal(err)
	}
	if code, r := verifyBy(dbURL, "--manifest", manifestFile(t, stale)); code != 1 || len(r.ContentDiffer) != 1 || r.ContentDiffer[0].ExecutionArn != victims[0] || !strings.Contains(r.ContentDiffer[0].What, "executions row: column version") {
		t.Errorf("version altered: exit %d, differing %v", code, r.ContentDiffer)
	}
	metricsSay(map[string]int{"sampled": ended, "sampled_equal": ended - 1, "content_differs": 1, "tokens_refused": ended}, 0)
	checkAlteredEventFound(t, dir, url, noTokens, victims[len(victims)-1])

	// A newer snapshot without the history: nothing to compare without
	// the state.
	run("--force")
	code, r := verifyBy(dbURL, "--manifest", manifestFile(t, stale))
	if r.Sampled != 0 || r.ByHistory != 0 || len(r.TokensRefused) != ended || r.NotSampleable != len(execs) || r.Running != len(execs)-ended || len(r.Errors) != 0 || code != 0 {
		t.Errorf("newest snapshots without history, tokens refused: exit %d, %d sampled, %d by history, %d tokens refused, %d not compared (%d running), errors %v",
			code, r.Sampled, r.ByHistory, len(r.TokensRefused), r.NotSampleable, r.Running, r.Errors)
	}
}

// TestVerifySampleDrawsEndedFirst: --sample N draws from the executions
// archived in a terminal state first, so that N are compared whenever the
// archive holds N such; past them, running ones are drawn too (and not
// compared).
func TestVerifySampleDrawsEndedFirst(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "archive")
	_, url, execs := verifyFixture(t, dest, nil)
	ended := 0
	for _, e := range execs {
		if terminal(e) {
			ended++
		}
	}
	if ended < 4 || ended > len(execs)-2 {
		t.Fatalf("%d of %d ended: the test needs some of each", ended, len(execs))
	}
	sample := func(n int) verify.Report {
		t.Helper()
		report := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, "verify", "--all-functions", "--dest", dest, "--endpoint-url", url, "--sample", fmt.Sprint(n), "--seed", "7", "--report", report)
		if r.code != 0 {
			t.Fatalf("--sample %d: exit %d", n, r.code)
		}
		return readVerify(t, report)
	}
	for _, c := range []struct{ n, compared, running int }{{ended - 2, ended - 2, 0}, {ended, ended, 0}, {ended + 2, ended, 2}} {
		r := sample(c.n)
		if r.Sampled != c.compared || r.Equal != c.compared || r.NotSampleable != c.running || r.Running != c.running {
			t.Errorf("--sample %d of %d ended: %d compared, %d equal, %d not compared (%d running); want %d compared, %d running",
				c.n, ended, r.Sampled, r.Equal, r.NotSampleable, r.Running, c.compared, c.running)
		}
	}
}

// TestVerifyStreamedRepeatedOperationID: an execution whose state lists
// two operations under one Id (a shape the SDK hands over) is compared
// whole even when it is large enough to stream (its rows' digests are
// kept by key): equal intact, and the same difference named once one of
// them is altered.
func TestVerifyStreamedRepeatedOperationID(t *testing.T) {
	start := time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)
	ops := []types.Operation{{Id: aws.String("exec"), Type: types.OperationTypeExecution, Status: types.OperationStatusSucceeded,
		StartTimestamp: &start, EndTimestamp: aws.Time(start.Add(time.Hour))}}
	for i := range 30 {
		ops = append(ops, types.Operation{Id: aws.String(fmt.Sprint("step-", i%20)), Type: types.OperationTypeStep, Status: types.OperationStatusSucceeded,
			StepDetails: &types.StepDetails{Result: aws.String(fmt.Sprint(i))}})
	}
	checkWholeAndStreamed(t, emulator.Fixed("arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/twice/0001", "tok", ops), 25)
}

// movingReader is a Parquet archive whose files a compaction beside the
// reader moves (publishes them again under other names, removes the old)
// just before the reader's second read of rows: after it has listed them.
type movingReader struct {
	*load.Parquet
	t     *testing.T
	dir   string
	reads atomic.Int32
	once  sync.Once
	moved int
}

func (m *movingReader) moveOnSecondRead() {
	if m.reads.Add(1) != 2 {
		return
	}
	m.once.Do(func() {
		files, _ := filepath.Glob(filepath.Join(m.dir, "*", "dt=*", "*.parquet"))
		for _, f := range files {
			if err := os.Rename(f, filepath.Join(filepath.Dir(f), "part-moved-"+filepath.Base(f))); err != nil {
				m.t.Error(err)
			}
			m.moved++
		}
	})
}

func (m *movingReader) Rows(ctx context.Context, states []load.ExecutionState) (map[string]*load.ExecutionRows, error) {
	m.moveOnSecondRead()
	return m.Parquet.Rows(ctx, states)
}

func (m *movingReader) EachRow(ctx context.Context, st load.ExecutionState, ex func(*schema.Execution), op func(*schema.Operation), ev func(*schema.Event)) error {
	m.moveOnSecondRead()
	return m.Parquet.EachRow(ctx, st, ex, op, ev)
}

// TestVerifyBesideCompaction: files that vanish between verify's listing
// and its read (a compaction beside it publishes the merged files, then
// removes those it merged) are read again from a new listing, whole and
// streamed: every execution compares equal, none is an error.
func TestVerifyBesideCompaction(t *testing.T) {
	dest := filepath.Join(t.TempDir(), "archive")
	_, url, execs := verifyFixture(t, dest, nil)
	client, err := extract.NewClient(context.Background(), extract.WithEndpointURL(url))
	if err != nil {
		t.Fatal(err)
	}
	for _, streamRows := range []int64{0, 1} {
		pd, err := load.OpenParquetDirForReading(dest)
		if err != nil {
			t.Fatal(err)
		}
		reader := &movingReader{Parquet: pd, t: t, dir: dest}
		archived, exp := archivedAndExpected(t, reader, execs)
		v := verify.Check(context.Background(), client, reader, exp, archived, verify.Options{All: true, Concurrency: 1, StreamRows: streamRows, ChunkRows: 1})
		if reader.moved == 0 || v.Sampled == 0 || v.Equal != v.Sampled || len(v.Errors) != 0 || len(v.ContentDiffer) != 0 {
			t.Errorf("streamRows %d, %d files moved: %d sampled, %d equal, errors %v, differing %v", streamRows, reader.moved, v.Sampled, v.Equal, v.Errors, v.ContentDiffer)
		}
	}
}

// TestRewriteEventsMendsLostEvents: events lost from the archive (an
// events file deleted, an execution's events rows deleted) while the
// service still has them are found by verify (content differs for an
// ended execution, inconsistent and at_service for a running one), are
// not written again by a run with --force (a run counts the events
// archived from the executions row), and are by one with --force
// --rewrite-events given verify's findings as a manifest: both
// destinations verify clean after it, Postgres rewrote none of the
// events it still held, and Parquet was given only those it lacked (one
// row an event, before compact --keep latest and after). --rewrite-events
// alone is a usage error.
func TestRewriteEventsMendsLostEvents(t *testing.T) {
	ctx := context.Background()
	dbURL, s := pgtest.Schema(t)
	dir := filepath.Join(t.TempDir(), "archive")
	_, url, execs := verifyFixture(t, dir, nil, "--dest", dbURL, "--pg-schema", s, "--migrate")
	conn := pgtest.Conn(t, dbURL)
	events := pgx.Identifier{s, "events"}.Sanitize()
	// Postgres: one ended execution's events deleted.
	var victim string
	for _, e := range execs {
		if terminal(e) {
			victim = e.ARN
			break
		}
	}
	if tag, err := conn.Exec(ctx, "DELETE FROM "+events+" WHERE execution_arn = $1", victim); err != nil || tag.RowsAffected() == 0 {
		t.Fatalf("delete %s's events: %v, %d rows", victim, err, tag.RowsAffected())
	}
	// Parquet: an events file of ended and running executions deleted.
	lost := removeFileOf(t, dir, "events", "both ended and running executions", func(arns []string) bool {
		running := slices.IndexFunc(execs, func(e emulator.Execution) bool { return !terminal(e) && slices.Contains(arns, e.ARN) }) >= 0
		ended := slices.IndexFunc(execs, func(e emulator.Execution) bool { return terminal(e) && slices.Contains(arns, e.ARN) }) >= 0
		return running && ended
	})
	// Postgres's rows of the events it keeps, by their row versions: a
	// rewrite would change them.
	versions := func() map[string]string {
		rows, err := conn.Query(ctx, "SELECT execution_arn || ' ' || event_id, xmin::text FROM "+events)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]string{}
		for rows.Next() {
			var k, v string
			if err := rows.Scan(&k, &v); err != nil {
				t.Fatal(err)
			}
			m[k] = v
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		return m
	}
	held := versions()
	// findings checks that dest verifies with events lost for exactly the
	// executions in want, and returns them as verify's findings name
	// them, as a manifest.
	findings := func(dest string, want []string) string {
		t.Helper()
		mend := filepath.Join(t.TempDir(), "mend.jsonl")
		code, rep := runVerify(t, url, dest, "--pg-schema", s, "--mend-manifest", mend)
		var named []string
		for _, d := range rep.ContentDiffer {
			if !strings.Contains(d.What, "is not in the archive") || !strings.HasPrefix(d.What, "event ") {
				t.Errorf("%s: content differs %s: %s, want a lost event", dest[:5], d.ExecutionArn, d.What)
			}
			named = append(named, d.ExecutionArn)
		}
		for _, d := range rep.Inconsistent {
			if !d.AtService || !strings.HasPrefix(d.What, "events: ") {
				t.Errorf("%s: inconsistent %+v, want events lost, at the service", dest[:5], d)
			}
			named = append(named, d.ExecutionArn)
		}
		slices.Sort(named)
		if code != exitFailed || !slices.Equal(named, want) || len(rep.Missing)+len(rep.Differing)+len(rep.Stale)+len(rep.Errors) != 0 {
			t.Fatalf("%s, events lost: exit %d, named %v, want %v; %+v", dest[:5], code, named, want, rep)
		}
		// As the README's jq makes it: entries without a token.
		var manifest bytes.Buffer
		enc := json.NewEncoder(&manifest)
		for _, arn := range named {
			if err := enc.Encode(map[string]string{"DurableExecutionArn": arn}); err != nil {
				t.Fatal(err)
			}
		}
		// --mend-manifest writes the same.
		if b, err := os.ReadFile(mend); err != nil || !bytes.Equal(b, manifest.Bytes()) {
			t.Fatalf("%s: --mend-manifest wrote %q (%v), want %q", dest[:5], b, err, manifest.Bytes())
		}
		return mend
	}
	slices.Sort(lost)
	lostManifest := findings(dir, lost)
	victimManifest := findings(dbURL, []string{victim})
	run := func(manifest string, extra ...string) int {
		t.Helper()
		return runCLI(t, append([]string{"run", "--manifest", manifest, "--dest", dir, "--dest", dbURL, "--pg-schema", s, "--endpoint-url", url, "--log-level", "warn"}, extra...)...).code
	}
	if code := run(lostManifest, "--rewrite-events"); code != exitUsage {
		t.Fatalf("--rewrite-events without --force: exit %d, want %d", code, exitUsage)
	}
	// --force alone archives new snapshots, and writes no lost event.
	if code := run(lostManifest, "--force"); code != 0 {
		t.Fatalf("run --force: exit %d", code)
	}
	findings(dir, lost)
	// Parquet's rows of each event before the mend: one each, --force
	// having found those it writes again in any case (with a value in a
	// column added since the first contract) held as they are.
	rowsByKey := func() map[string]int { return eventRowsByKey(t, dir) }
	before := rowsByKey()
	for k, n := range before {
		if n != 1 {
			t.Errorf("parquet after --force: event %s held %d times", k, n)
		}
	}
	for _, m := range []string{lostManifest, victimManifest} {
		if code := run(m, "--force", "--rewrite-events"); code != 0 {
			t.Fatalf("run --force --rewrite-events: exit %d", code)
		}
	}
	for _, dest := range []string{dir, dbURL} {
		mend := filepath.Join(t.TempDir(), "mend.jsonl")
		if code, rep := runVerify(t, url, dest, "--pg-schema", s, "--mend-manifest", mend); code != 0 || rep.Complete != len(execs) || rep.Equal != rep.Sampled || len(rep.Inconsistent) != 0 {
			t.Fatalf("%s, mended: exit %d, %+v", dest[:5], code, rep)
		}
		if b, err := os.ReadFile(mend); err != nil || len(b) != 0 {
			t.Errorf("%s, mended: --mend-manifest wrote %q (%v), want an empty file", dest[:5], b, err)
		}
	}
	now := versions()
	for k, v := range held {
		if now[k] != v {
			t.Errorf("postgres rewrote event %s it held unchanged", k)
		}
	}
	if len(now) <= len(held) {
		t.Errorf("postgres holds %d events after the mend, %d before: %s's not written again", len(now), len(held), victim)
	}
	// Parquet was given only the events it lacked: one row of each lost
	// event, none of one it held (the victim's, whose Parquet events
	// were kept, written to Postgres alone).
	mended := rowsByKey()
	for k, n := range mended {
		if want := max(before[k], 1); n != want {
			t.Errorf("parquet: event %s held %d times after the mend, %d before", k, n, before[k])
		}
	}
	if len(mended) <= len(before) {
		t.Errorf("parquet holds %d events after the mend, %d before: the lost ones not written again", len(mended), len(before))
	}
	if r := runCLI(t, "compact", "--dest", dir, "--min-age", "0s", "--keep", "latest"); r.code != 0 {
		t.Fatalf("compact: exit %d", r.code)
	}
	compacted := rowsByKey()
	for k, n := range compacted {
		if n != 1 {
			t.Errorf("parquet after compact --keep latest: event %s held %d times", k, n)
		}
	}
	if len(compacted) != len(mended) {
		t.Errorf("parquet after compact --keep latest: %d events, %d before", len(compacted), len(mended))
	}
	if code, rep := runVerify(t, url, dir); code != 0 || rep.Equal != rep.Sampled || len(rep.Inconsistent) != 0 {
		t.Fatalf("parquet, mended and compacted: exit %d, %+v", code, rep)
	}
}

// TestMendArchivesAnExecutionWhoseRowWasLost: an executions file lost
// after compaction (so no run's ledger can count its events: compacted
// files pair with none) leaves its executions' operations and events. A
// verify of the archive alone asks the service of each: one it still has
// is missing, one it has forgotten inconsistent and not at the service;
// --mend-manifest names the missing ones, and etl run --force
// --rewrite-events with it archives them again without a second row of
// any event the archive kept; the archive then verifies with only the
// forgotten one found. An event altered in the archive since, of
// another execution, is named too, and the same run writes it again
// (one row more, the newer), as it is at the service.
func TestMendArchivesAnExecutionWhoseRowWasLost(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	// Within the service's retention, so that verify compares them.
	execs := emulator.Generate(43, 24, emulator.GenerateOptions{MaxOps: 40, Start: time.Now().UTC().AddDate(0, 0, -6), Days: 3})
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	srv.Add(execs...)
	first, _ := emulatortest.Start(t, srv)
	// Two runs, then compaction: a partition's files become one
	// compacted file a table.
	for _, force := range []string{"--force=false", "--force"} {
		if r := runCLI(t, "run", "--all-functions", "--dest", dir, "--endpoint-url", first, "--log-level", "warn", force); r.code != 0 {
			t.Fatalf("run %s: exit %d", force, r.code)
		}
	}
	if r := runCLI(t, "compact", "--dest", dir, "--min-age", "0s"); r.code != 0 {
		t.Fatalf("compact: exit %d", r.code)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "executions", "dt=*", "*.parquet"))
	for _, f := range files {
		if !strings.Contains(filepath.Base(f), "compact") {
			t.Fatalf("%s: not a compacted file; the test wants one", f)
		}
	}
	lost := removeFileOf(t, dir, "executions", "two executions", func(arns []string) bool { return len(arns) >= 2 })
	// An event of another execution altered in the archive since.
	altered := slices.IndexFunc(execs, func(e emulator.Execution) bool { return terminal(e) && !slices.Contains(lost, e.ARN) })
	if altered < 0 {
		t.Fatal("no ended execution outside the lost file: the test wants one")
	}
	target := execs[altered].ARN
	files, _ = filepath.Glob(filepath.Join(dir, "events", "dt=*", "*.parquet"))
	for _, f := range files {
		if slices.Contains(fileARNs(t, f), target) {
			rewriteFile(t, f, func(rows []schema.Event) []schema.Event {
				for i := range rows {
					if rows[i].ExecutionArn == target && rows[i].EventID == 1 {
						rows[i].ExecutionTimeoutSeconds = new(int32(7))
					}
				}
				return rows
			})
		}
	}
	// The service forgets one of the lost.
	forgotten := lost[0]
	kept := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()))
	kept.Add(slices.DeleteFunc(slices.Clone(execs), func(e emulator.Execution) bool { return e.ARN == forgotten })...)
	url, _ := emulatortest.Start(t, kept)
	alone := func(extra ...string) (int, verify.Report) {
		t.Helper()
		report := filepath.Join(t.TempDir(), "v.json")
		r := runCLI(t, append([]string{"verify", "--dest", dir, "--endpoint-url", url, "--all", "--report", report}, extra...)...)
		return r.code, readVerify(t, report)
	}
	wantForgotten := []verify.Difference{{ExecutionArn: forgotten, What: "no executions row in the archive, only operations or events, and the service has forgotten it"}}
	mend := filepath.Join(t.TempDir(), "mend.jsonl")
	code, rep := alone("--mend-manifest", mend)
	if code != exitFailed || !slices.Equal(rep.Missing, lost[1:]) || !slices.Equal(rep.Inconsistent, wantForgotten) || len(rep.Errors) != 0 ||
		len(rep.ContentDiffer) != 1 || rep.ContentDiffer[0].ExecutionArn != target || !strings.HasPrefix(rep.ContentDiffer[0].What, "event 1: column execution_timeout_seconds") {
		t.Fatalf("an executions file lost, an event altered: exit %d, missing %v (want %v), inconsistent %+v (want %+v), content differs %+v (want %s's event 1), errors %+v",
			code, rep.Missing, lost[1:], rep.Inconsistent, wantForgotten, rep.ContentDiffer, target, rep.Errors)
	}
	for _, arn := range lost {
		if n := kept.Requests("get", arn); arn != forgotten && n != 1 {
			t.Errorf("%s: asked %d times of the service, want once", arn, n)
		}
	}
	checkMendManifest(t, mend, slices.Sorted(slices.Values(append(slices.Clone(lost[1:]), target))))
	rowsByKey := func() map[string]int { return eventRowsByKey(t, dir) }
	before := rowsByKey()
	report := filepath.Join(t.TempDir(), "r.json")
	if r := runCLI(t, "run", "--manifest", mend, "--dest", dir, "--endpoint-url", url, "--log-level", "warn", "--force", "--rewrite-events", "--report", report); r.code != 0 {
		t.Fatalf("the mend: exit %d", r.code)
	}
	if s := readReport(t, report); s.EventsNew != 1 || s.Events == 0 {
		t.Errorf("the mend: %d new events of %d read, want 1 (the altered one)", s.EventsNew, s.Events)
	}
	// No row more but the altered event's, the service's form again.
	before[target+" 1"]++
	if after := rowsByKey(); !maps.Equal(after, before) {
		for k, n := range after {
			if before[k] != n {
				t.Errorf("event %s: %d rows after the mend, want %d", k, n, before[k])
			}
		}
	}
	code, rep = alone("--mend-manifest", mend)
	if code != exitFailed || len(rep.Missing) != 0 || !slices.Equal(rep.Inconsistent, wantForgotten) || len(rep.ContentDiffer) != 0 || rep.Equal != rep.Sampled || rep.Complete != len(execs)-1 {
		t.Fatalf("mended: exit %d, %+v", code, rep)
	}
	if b, err := os.ReadFile(mend); err != nil || len(b) != 0 {
		t.Errorf("mended: --mend-manifest wrote %q (%v), want an empty file", b, err)
	}
}

// removeFileOf removes the first of the Parquet archive dir's files of
// table whose executions (sorted, each once) want accepts, and returns
// them; none is a test that proves nothing: it fails, saying what it
// wanted (what).
func removeFileOf(t *testing.T, dir, table, what string, want func(arns []string) bool) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, table, "dt=*", "*.parquet"))
	for _, f := range files {
		arns := fileARNs(t, f) // one a row
		slices.Sort(arns)
		if arns = slices.Compact(arns); want(arns) {
			if err := os.Remove(f); err != nil {
				t.Fatal(err)
			}
			return arns
		}
	}
	t.Fatalf("no %s file among %d holds %s: the test wants one that does", table, len(files), what)
	return nil
}

// eventRowsByKey counts the Parquet archive dir's events rows of each
// event ("ARN event_id").
func eventRowsByKey(t *testing.T, dir string) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for _, ev := range tableRows[schema.Event](t, dir, "events") {
		seen[fmt.Sprint(ev.ExecutionArn, " ", ev.EventID)]++
	}
	return seen
}

// TestVerifyManifestMissingNotAsked: a verify by --manifest names missing
// each execution the manifest names that the archive lacks, and asks the
// service nothing of it (a manifest may name a million the archive lacks:
// a call each would take hours); --mend-manifest names them, and the
// mend archives the one the service has and fails, naming it, the one it
// does not know.
func TestVerifyManifestMissingNotAsked(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	srv, url, execs := verifyFixture(t, dir, nil)
	later := emulator.Generate(44, 1, emulator.GenerateOptions{MaxOps: 10})[0] // started after the run
	srv.Add(later)
	unknown := strings.Replace(execs[0].ARN, "/durable-execution/", "/durable-execution/never-", 1)
	var lines strings.Builder
	w := extract.NewManifestWriter(&lines)
	for _, arn := range []string{execs[0].ARN, later.ARN, unknown} {
		if err := w.Write(arn, nil); err != nil {
			t.Fatal(err)
		}
	}
	manifest := filepath.Join(t.TempDir(), "m.jsonl")
	if err := os.WriteFile(manifest, []byte(lines.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	asked := srv.Requests("get", later.ARN) + srv.Requests("get", unknown)
	mend := filepath.Join(t.TempDir(), "mend.jsonl")
	report := filepath.Join(t.TempDir(), "v.json")
	r := runCLI(t, "verify", "--manifest", manifest, "--dest", dir, "--endpoint-url", url, "--report", report, "--mend-manifest", mend)
	rep := readVerify(t, report)
	missing := slices.Sorted(slices.Values([]string{later.ARN, unknown}))
	if r.code != exitFailed || rep.ListedFrom != "manifest" || !slices.Equal(rep.Missing, missing) || len(rep.Inconsistent) != 0 || rep.Complete != 1 {
		t.Fatalf("exit %d, listed from %q, missing %v (want %v), inconsistent %+v, %d complete", r.code, rep.ListedFrom, rep.Missing, missing, rep.Inconsistent, rep.Complete)
	}
	if n := srv.Requests("get", later.ARN) + srv.Requests("get", unknown) - asked; n != 0 {
		t.Errorf("the missing asked %d times of the service, want never", n)
	}
	checkMendManifest(t, mend, missing)
	report = filepath.Join(t.TempDir(), "r.json")
	if r := runCLI(t, "run", "--manifest", mend, "--dest", dir, "--endpoint-url", url, "--force", "--rewrite-events", "--log-level", "warn", "--report", report); r.code != exitFailed {
		t.Fatalf("the mend: exit %d, want %d (one execution unknown)", r.code, exitFailed)
	}
	if s := readReport(t, report); s.ExecutionsOK != 1 || len(s.Failures) != 1 || s.Failures[0].ExecutionArn != unknown || s.Failures[0].Code != "ResourceNotFoundException" {
		t.Errorf("the mend: %d archived, failures %+v: want %s archived and %s failed, not found", s.ExecutionsOK, s.Failures, later.ARN, unknown)
	}
}

// TestVerifyRowLostAndReadDenied: an execution found without its
// executions row that the service will not describe (its function's
// reads denied by policy) is an error of verify's, not missing (no run
// could archive it) nor lost for good (the service may have it), and
// --mend-manifest leaves it out.
func TestVerifyRowLostAndReadDenied(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "archive")
	_, _, execs := verifyFixture(t, dir, nil)
	fn := func(arn string) string { return strings.Split(strings.Split(arn, ":function:")[1], ":")[0] }
	lost := removeFileOf(t, dir, "executions", "executions of two functions", func(arns []string) bool {
		return slices.ContainsFunc(arns, func(a string) bool { return fn(a) != fn(arns[0]) })
	})
	denied := fn(lost[0])
	srv := emulator.New(emulator.WithFunctionList(emulator.DemoFunctions()), emulator.WithDeniedReads(denied))
	srv.Add(execs...)
	url, _ := emulatortest.Start(t, srv)
	report, mend := filepath.Join(t.TempDir(), "v.json"), filepath.Join(t.TempDir(), "mend.jsonl")
	r := runCLI(t, "verify", "--dest", dir, "--endpoint-url", url, "--report", report, "--mend-manifest", mend)
	rep := readVerify(t, report)
	var wantMissing, wantErrors, errors []string
	for _, arn := range lost {
		if fn(arn) == denied {
			wantErrors = append(wantErrors, arn)
		} else {
			wantMissing = append(wantMissing, arn)
		}
	}
	for _, d := range rep.Errors {
		if slices.Contains(lost, d.ExecutionArn) {
			errors = append(errors, d.ExecutionArn)
			if !strings.Contains(d.What, "AccessDenied") {
				t.Errorf("%s: error %q, want the denial", d.ExecutionArn, d.What)
			}
		}
	}
	slices.Sort(errors)
	if r.code != exitFailed || !slices.Equal(rep.Missing, wantMissing) || !slices.Equal(errors, wantErrors) || len(rep.Inconsistent) != 0 {
		t.Fatalf("exit %d, missing %v (want %v), errors among the lost %v (want %v), inconsistent %+v", r.code, rep.Missing, wantMissing, errors, wantErrors, rep.Inconsistent)
	}
	checkMendManifest(t, mend, wantMissing)
}

// checkMendManifest checks that the manifest --mend-manifest wrote at path
// names arns, in that order, without tokens.
func checkMendManifest(t *testing.T, path string, arns []string) {
	t.Helper()
	var want bytes.Buffer
	w := extract.NewManifestWriter(&want)
	for _, arn := range arns {
		if err := w.Write(arn, nil); err != nil {
			t.Fatal(err)
		}
	}
	if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, want.Bytes()) {
		t.Fatalf("--mend-manifest wrote %q (%v), want %q", b, err, want.Bytes())
	}
}
