package discovery

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
)

// TestFoundList: every ARN, of the documented form or not, comes back as
// listed with its times and status, is found by its ARN (also when every
// ARN's hash is the same), an ARN listed twice is kept once (its first
// listing, with the earliest start and latest end of the two) and an ARN
// not listed is not found; sealed, the list and the
// manifest are in order of start, those without a start last.
func TestFoundList(t *testing.T) {
	at := func(s string) *time.Time {
		v, err := time.Parse(time.RFC3339Nano, s)
		if err != nil {
			t.Fatal(err)
		}
		return &v
	}
	in := []extract.Found{
		{ARN: "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-1/7f9c", Status: types.ExecutionStatusSucceeded, Start: at("2026-03-01T10:00:00.123Z"), End: at("2026-03-01T10:05:00Z")},
		{ARN: "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-2/8a1b", Status: types.ExecutionStatusRunning, Start: at("2026-02-01T00:00:00Z")},
		{ARN: "arn:aws:lambda:us-east-1:123456789012:function:orders:7/durable-execution/o-1/7f9c", Status: "PAUSED"},
		{ARN: "not-an-arn", Status: types.ExecutionStatusFailed, Start: at("2026-01-01T00:00:00Z"), End: at("2026-01-02T00:00:00Z")},
		{ARN: "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/", Status: types.ExecutionStatusFailed},
	}
	for _, c := range []struct {
		name string
		hash func(string) uint64
	}{{"maphash", nil}, {"every hash clashes", func(string) uint64 { return 7 }}} {
		t.Run(c.name, func(t *testing.T) { checkFoundList(t, in, c.hash) })
	}
}

func checkFoundList(t *testing.T, in []extract.Found, hash func(string) uint64) {
	t.Setenv("TMPDIR", t.TempDir())
	l, err := NewList()
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if hash != nil {
		l.hash = hash
	}
	if left, _ := os.ReadDir(os.TempDir()); len(left) != 0 {
		t.Errorf("the list's file is left in TMPDIR: %v", left)
	}
	// Listed again (a function named twice; an archive's execution under
	// two dates) under function 2: kept once, its first listing's status
	// and function, the earliest start and the latest end of its
	// listings (in[1] again a year earlier, in[3] again with no times,
	// in[2] again with an end).
	earlier := in[1]
	earlier.Start = aws.Time(in[1].Start.AddDate(-1, 0, 0))
	ended := in[2]
	ended.End = aws.Time(time.Date(2026, 4, 1, 0, 0, 0, 0, time.UTC))
	for i, f := range append(slices.Clone(in), in[0], in[4], extract.Found{ARN: strings.Clone(in[3].ARN)}, extract.Found{ARN: in[1].ARN, Start: earlier.Start}, extract.Found{ARN: in[2].ARN, End: ended.End}) {
		fn := i % 2
		if i >= len(in) {
			fn = 2
		}
		if err := l.Add(f, fn); err != nil {
			t.Fatal(err)
		}
	}
	dropped := map[int]int{}
	if err := l.Seal(func(fn int) { dropped[fn]++ }); err != nil {
		t.Fatal(err)
	}
	if len(dropped) != 1 || dropped[2] != 5 {
		t.Errorf("dropped %v, want the 5 listings of function 2", dropped)
	}
	if l.Len() != len(in) {
		t.Fatalf("%d listed, want %d", l.Len(), len(in))
	}
	// Sealed, the list is in order of start, those without one last, in
	// the order listed.
	sorted := []extract.Found{earlier, in[3], in[0], ended, in[4]}
	for i, f := range sorted {
		if got := l.ARN(i); got != f.ARN {
			t.Errorf("%d: ARN %q, want %q", i, got, f.ARN)
		}
		if got := l.Find(f.ARN); got != i {
			t.Errorf("find(%q) = %d, want %d", f.ARN, got, i)
		}
		if s, e := l.Start(i), timeOf(l.items[i].end); (s == nil) != (f.Start == nil) || s != nil && !s.Equal(*f.Start) || (e == nil) != (f.End == nil) || e != nil && !e.Equal(*f.End) {
			t.Errorf("%d: times %v %v, want %v %v", i, s, e, f.Start, f.End)
		}
		if l.Status(i) != f.Status {
			t.Errorf("%d: status %q, want %q", i, l.Status(i), f.Status)
		}
	}
	for _, arn := range []string{"arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-3/7f9c", "not-an-ar", "", "x" + in[0].ARN} {
		if i := l.Find(arn); i >= 0 {
			t.Errorf("find(%q) = %d, want -1", arn, i)
		}
	}
	if len(l.prefixes) != 3 {
		t.Errorf("%d prefixes, want 3 ($LATEST, 7, none)", len(l.prefixes))
	}
	var b bytes.Buffer
	if err := WriteManifest(&b, l); err != nil {
		t.Fatal(err)
	}
	var got []string
	for dec := json.NewDecoder(&b); dec.More(); {
		var line struct{ DurableExecutionArn, StartTimestamp string }
		if err := dec.Decode(&line); err != nil {
			t.Fatal(err)
		}
		got = append(got, line.DurableExecutionArn+" "+line.StartTimestamp)
	}
	want := []string{in[1].ARN + " 2025-02-01T00:00:00Z", in[3].ARN + " 2026-01-01T00:00:00Z", in[0].ARN + " 2026-03-01T10:00:00.123Z", in[2].ARN + " ", in[4].ARN + " "}
	if len(got) != len(want) {
		t.Fatalf("manifest %q, want %q", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("manifest line %d: %q, want %q", i+1, got[i], want[i])
		}
	}
}

// TestFoundListUnreadable: once the list's file fails, its ARNs come back
// empty and unfound, the manifest made from it fails, and Err says so
// (a run or verify then exits 1 rather than report from a wrong list).
func TestFoundListUnreadable(t *testing.T) {
	l, err := NewList()
	if err != nil {
		t.Fatal(err)
	}
	arn := "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-1/7f9c"
	if err := l.Add(extract.Found{ARN: arn, Status: types.ExecutionStatusRunning}, 0); err != nil {
		t.Fatal(err)
	}
	if err := l.Seal(nil); err != nil {
		t.Fatal(err)
	}
	if l.Find(arn) != 0 || l.Err() != nil {
		t.Fatalf("find before the failure: %d, %v", l.Find(arn), l.Err())
	}
	l.file.Close() // as a failing disk would
	if got := l.ARN(0); got != "" {
		t.Errorf("arn(0) = %q from a closed file", got)
	}
	if i := l.Find(arn); i != -1 {
		t.Errorf("find = %d from a closed file, want -1", i)
	}
	if err := WriteManifest(io.Discard, l); err == nil || !strings.Contains(err.Error(), "discovery's list") {
		t.Errorf("manifest from a closed file: %v", err)
	}
	if err := l.Err(); err == nil || !strings.Contains(err.Error(), "discovery's list (a temporary file)") {
		t.Errorf("Err() = %v", err)
	}
}

// TestRetime: times given to a sealed list's executions put it in order
// of start again, those given none staying as they were; each is found by
// its ARN after, also when every ARN's hash is the same.
func TestRetime(t *testing.T) {
	for _, clash := range []bool{false, true} {
		l, err := NewList()
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		if clash {
			l.hash = func(string) uint64 { return 7 }
		}
		day := func(d int) *time.Time { return aws.Time(time.Date(2026, 1, d, 0, 0, 0, 0, time.UTC)) }
		arns := []string{"a", "b", "c", "d", "e"}
		for i, arn := range arns {
			f := extract.Found{ARN: arn}
			if i == 3 {
				f.Start = day(20) // given by the listing: kept
			}
			if err := l.Add(f, 0); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Seal(nil); err != nil {
			t.Fatal(err)
		}
		// Sealed: d (a start) first, then a, b, c, e as added.
		retimed := map[string][2]int{"e": {2, 5}, "b": {25, 25}, "a": {10, 30}}
		before := make([]string, l.Len())
		for i := range before {
			before[i] = l.ARN(i)
		}
		l.Retime(func(i int) (*time.Time, *time.Time, bool) {
			d, ok := retimed[before[i]]
			if !ok {
				return nil, nil, false
			}
			return day(d[0]), day(d[1]), true
		})
		want := []string{"e", "a", "d", "b", "c"} // by start: 2, 10, 20, 25, none
		for i, arn := range want {
			if got := l.ARN(i); got != arn {
				t.Errorf("clash %v: %d is %q, want %q", clash, i, got, arn)
			}
			if l.Find(arn) != i {
				t.Errorf("clash %v: Find(%q) = %d, want %d", clash, arn, l.Find(arn), i)
			}
		}
		if e := l.End(1); e == nil || !e.Equal(*day(30)) || l.Start(2) == nil || !l.Start(2).Equal(*day(20)) || l.Start(4) != nil {
			t.Errorf("clash %v: times after: a ends %v, d starts %v, c starts %v", clash, e, l.Start(2), l.Start(4))
		}
	}
}
