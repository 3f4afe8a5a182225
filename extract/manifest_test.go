package extract_test

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/durable-etl/durable-etl/extract"
)

func entries(t *testing.T, m *extract.Manifest) []extract.Entry {
	t.Helper()
	var out []extract.Entry
	for m.Next() {
		out = append(out, m.Entry())
	}
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestManifestFormats(t *testing.T) {
	tests := []struct {
		name, content string
		want          []extract.Entry
		dups          int
	}{
		{"json lines", "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t1\"}\n\n{\"DurableExecutionArn\":\"b\",\"CheckpointToken\":\"t2\",\"Extra\":1}",
			[]extract.Entry{{ARN: "a", Token: "t1", Line: 1}, {ARN: "b", Token: "t2", Line: 3}}, 0},
		{"json lines with BOM, CRLF and leading blank lines", "\xEF\xBB\xBF\r\n\n  {\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\"}\r\n",
			[]extract.Entry{{ARN: "a", Token: "t", Line: 3}}, 0},
		{"csv", "durable_execution_arn,checkpoint_token\na,t1\n\"b,with comma\",\"t\"\"2\"\n",
			[]extract.Entry{{ARN: "a", Token: "t1", Line: 2}, {ARN: "b,with comma", Token: "t\"2", Line: 3}}, 0},
		{"csv header in another case, CRLF", "Durable_Execution_Arn , Checkpoint_Token\r\na,t\r\n",
			[]extract.Entry{{ARN: "a", Token: "t", Line: 2}}, 0},
		{"duplicates archived once, first wins", "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t1\"}\n{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t2\"}\n",
			[]extract.Entry{{ARN: "a", Token: "t1", Line: 1}}, 1},
		{"tokens are optional", "{\"DurableExecutionArn\":\"a\"}\n{\"DurableExecutionArn\":\"b\",\"CheckpointToken\":\"\"}\n",
			[]extract.Entry{{ARN: "a", Line: 1}, {ARN: "b", Line: 2}}, 0},
		{"csv without tokens", "durable_execution_arn,checkpoint_token\na,\nb,t\n",
			[]extract.Entry{{ARN: "a", Line: 2}, {ARN: "b", Token: "t", Line: 3}}, 0},
		{"empty", "", nil, 0},
		{"blank", "\n  \n", nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m, err := extract.NewManifest("m", []byte(tc.content))
			if err != nil {
				t.Fatal(err)
			}
			got := entries(t, m)
			if len(got) != len(tc.want) || m.Count() != len(tc.want) || m.Duplicates() != tc.dups {
				t.Fatalf("got %+v (count %d, dups %d), want %+v", got, m.Count(), m.Duplicates(), tc.want)
			}
			for i := range got {
				if got[i] != tc.want[i] {
					t.Errorf("entry %d: %+v, want %+v", i, got[i], tc.want[i])
				}
			}
		})
	}
}

func TestManifestErrors(t *testing.T) {
	const secret = "SECRET-TOKEN"
	tests := []struct {
		name, content string
		line          int
		reason        string
	}{
		{"bad json", "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"" + secret + "\"}\n{\"DurableExecutionArn\":\"b\",\"CheckpointToken\":\"" + secret + "\"\n", 2, "not a JSON object"},
		{"empty arn", "{\"DurableExecutionArn\":\"\",\"CheckpointToken\":\"" + secret + "\"}\n", 1, "DurableExecutionArn is missing or empty"},
		{"number for a string", "{\"DurableExecutionArn\":1,\"CheckpointToken\":\"" + secret + "\"}\n", 1, "must be a string"},
		{"two values on a line", "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"x\"} {}\n", 1, "more than one JSON value"},
		{"json then garbage", "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"x\"}\nhello " + secret + "\n", 2, "not a JSON object"},
		{"csv without header", "a," + secret + "\n", 1, "neither JSON Lines nor CSV"},
		{"csv too many fields", "durable_execution_arn,checkpoint_token\na," + secret + ",x\n", 2, "expected 2 fields"},
		{"csv bad quote", "durable_execution_arn,checkpoint_token\na,t\n\"b,t\n", 3, "bad CSV"},
		{"start not RFC 3339", "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"" + secret + "\",\"StartTimestamp\":\"yesterday\"}\n", 1, "StartTimestamp must be an RFC 3339 time or epoch seconds"},
		{"start an object", "{\"DurableExecutionArn\":\"a\",\"StartTimestamp\":{}}\n", 1, "StartTimestamp must be"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := extract.NewManifest("m.jsonl", []byte(tc.content))
			var me *extract.ManifestError
			if !errors.As(err, &me) {
				t.Fatalf("want *ManifestError, got %v", err)
			}
			if me.Line != tc.line || !strings.Contains(me.Reason, tc.reason) {
				t.Errorf("got line %d %q, want line %d %q", me.Line, me.Reason, tc.line, tc.reason)
			}
			if !strings.HasPrefix(err.Error(), "manifest m.jsonl line ") || strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "\n") {
				t.Errorf("message %q must name file and line, on one line, without the token", err)
			}
		})
	}
}

func TestOpenManifestFile(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "m.csv")
	if err := os.WriteFile(p, []byte("durable_execution_arn,checkpoint_token\na,t\nb,t\na,t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err := extract.OpenManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if got := entries(t, m); len(got) != 2 || m.Count() != 2 || m.Duplicates() != 1 {
		t.Errorf("got %v, count %d, dups %d", got, m.Count(), m.Duplicates())
	}
	_, err = extract.OpenManifest(filepath.Join(dir, "missing.jsonl"))
	if err == nil || !strings.Contains(err.Error(), "missing.jsonl") {
		t.Errorf("a missing manifest: %v", err)
	}
}

// TestSpooledManifest: a spooled manifest reads what write wrote, from a
// file with no name in TMPDIR at any time (a killed run leaves nothing); a
// failed write or a bad line leaves no file and names the source.
func TestSpooledManifest(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	spooled := func() []string {
		names, err := filepath.Glob(filepath.Join(os.TempDir(), "etl-manifest-*"))
		if err != nil {
			t.Fatal(err)
		}
		return names
	}
	m, err := extract.SpooledManifest("(test)", func(w io.Writer) error {
		for i := range 3000 { // past the write buffer
			fmt.Fprintf(w, "{\"DurableExecutionArn\":\"arn-%d\"}\n", i%2500)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if names := spooled(); len(names) != 0 {
		t.Fatalf("the spooled manifest has a name %v: a run killed with SIGKILL would leave it behind", names)
	}
	if got := entries(t, m); len(got) != 2500 || m.Count() != 2500 || m.Duplicates() != 500 || got[2499].ARN != "arn-2499" {
		t.Errorf("%d entries, count %d, dups %d", len(got), m.Count(), m.Duplicates())
	}
	if err := m.Close(); err != nil {
		t.Fatal(err)
	}
	if names := spooled(); len(names) != 0 {
		t.Errorf("left after Close: %v", names)
	}
	for name, write := range map[string]func(io.Writer) error{
		"a failed write": func(w io.Writer) error { return errors.New("listing broke") },
		"a bad line": func(w io.Writer) error {
			_, err := io.WriteString(w, "{\"DurableExecutionArn\":\"a\"}\n{nope\n")
			return err
		},
	} {
		_, err := extract.SpooledManifest("(test)", write)
		if err == nil || !strings.Contains(err.Error(), "(test)") {
			t.Errorf("%s: %v, want an error naming the source", name, err)
		}
		if names := spooled(); len(names) != 0 {
			t.Errorf("%s: left %v", name, names)
		}
	}
}

func TestSingleEntry(t *testing.T) {
	m, err := extract.SingleEntry("arn:x", "tok")
	if err != nil {
		t.Fatal(err)
	}
	if got := entries(t, m); len(got) != 1 || got[0].ARN != "arn:x" || got[0].Token != "tok" {
		t.Errorf("got %+v", got)
	}
}

func TestManifestTolerateBadLines(t *testing.T) {
	content := "{\"DurableExecutionArn\":\"a\",\"CheckpointToken\":\"t\"}\nnot json\n{\"DurableExecutionArn\":\"\"}\n{\"DurableExecutionArn\":\"c\",\"CheckpointToken\":\"t\"}\n"
	if _, err := extract.NewManifest("m", []byte(content)); err == nil {
		t.Fatal("the default must refuse a bad line")
	}
	m, err := extract.NewManifest("m", []byte(content), extract.TolerateBadLines())
	if err != nil {
		t.Fatal(err)
	}
	got := entries(t, m)
	if len(got) != 2 || got[0].ARN != "a" || got[1].ARN != "c" || len(m.Skipped()) != 2 || m.Skipped()[0].Line != 2 || m.Skipped()[1].Line != 3 {
		t.Fatalf("entries %v, skipped %v", got, m.Skipped())
	}
	// A CSV without its header cannot be read at all, skip or not.
	if _, err := extract.NewManifest("m", []byte("a,t\n"), extract.TolerateBadLines()); err == nil {
		t.Error("a headerless CSV was accepted")
	}
}

// TestManifestDuplicatesAfterCheck: the pass after the check skips the
// entries the check found to repeat an ARN (first wins), among skipped bad
// lines and other shards' entries; a file changed since the check so that
// a noted entry is another ARN is an error naming the manifest, not an
// execution skipped.
func TestManifestDuplicatesAfterCheck(t *testing.T) {
	var b strings.Builder
	var want []string
	for i := range 300 {
		arn := fmt.Sprintf("arn-%d", i%200) // the last 100 repeat the first
		fmt.Fprintf(&b, "{\"DurableExecutionArn\":%q,\"CheckpointToken\":\"t%d\"}\n", arn, i)
		if i%7 == 0 {
			b.WriteString("not json\n")
		}
		if i < 200 && extract.InShard(arn, 1, 3) {
			want = append(want, fmt.Sprintf("%s t%d", arn, i))
		}
	}
	m, err := extract.NewManifest("m", []byte(b.String()), extract.TolerateBadLines(), extract.Shard(1, 3))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range entries(t, m) {
		got = append(got, e.ARN+" "+e.Token)
	}
	if !slices.Equal(got, want) || m.Count() != len(want) || m.Duplicates() != 100 || m.OtherShards() != 200-len(want) {
		t.Errorf("got %d entries (count %d, dups %d, others %d), want %d: %v", len(got), m.Count(), m.Duplicates(), m.OtherShards(), len(want), got)
	}

	p := filepath.Join(t.TempDir(), "m.csv")
	if err := os.WriteFile(p, []byte("durable_execution_arn,checkpoint_token\na,t\nb,t\na,t\nc,t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	m, err = extract.OpenManifest(p)
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	if err := os.WriteFile(p, []byte("durable_execution_arn,checkpoint_token\na,t\nb,t\nd,t\nc,t\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for m.Next() {
	}
	if err := m.Err(); err == nil || !strings.Contains(err.Error(), p) || !strings.Contains(err.Error(), "changed") {
		t.Errorf("a manifest changed since its check: %v", err)
	}
}

func TestManifestShards(t *testing.T) {
	var b strings.Builder
	for i := range 1000 {
		fmt.Fprintf(&b, "{\"DurableExecutionArn\":\"arn-%d\",\"CheckpointToken\":\"t\"}\n", i)
	}
	seen := map[string]int{}
	for i := range 4 {
		m, err := extract.NewManifest("m", []byte(b.String()), extract.Shard(i, 4))
		if err != nil {
			t.Fatal(err)
		}
		got := entries(t, m)
		if len(got) < 150 || m.Count() != len(got) || m.OtherShards() != 1000-len(got) {
			t.Errorf("shard %d: %d entries, count %d, others %d", i, len(got), m.Count(), m.OtherShards())
		}
		for _, e := range got {
			seen[e.ARN]++
			if !extract.InShard(e.ARN, i, 4) {
				t.Errorf("%s in shard %d", e.ARN, i)
			}
		}
	}
	if len(seen) != 1000 {
		t.Errorf("the shards cover %d of 1000 entries", len(seen))
	}
	for arn, n := range seen {
		if n != 1 {
			t.Errorf("%s in %d shards", arn, n)
		}
	}
}

// TestManifestStartTimestamp: an entry may give its start time; the
// manifest counts this shard's distinct entries by its UTC date.
func TestManifestStartTimestamp(t *testing.T) {
	content := `{"DurableExecutionArn":"arn-a","StartTimestamp":"2026-03-01T23:30:00-02:00"}
{"DurableExecutionArn":"arn-b","StartTimestamp":"2026-03-02T10:00:00.123000+00:00"}
{"DurableExecutionArn":"arn-a","StartTimestamp":"2026-03-02T01:30:00Z"}
{"DurableExecutionArn":"arn-c","CheckpointToken":"t","StartTimestamp":null}
{"DurableExecutionArn":"arn-d","StartTimestamp":1772582400.5}
`
	m, err := extract.NewManifest("m", []byte(content))
	if err != nil {
		t.Fatal(err)
	}
	if got := m.StartDates(); len(got) != 2 || got["2026-03-02"] != 2 || got["2026-03-04"] != 1 {
		t.Errorf("start dates %v, want 2026-03-02: 2 (arn-a's duplicate not counted), 2026-03-04: 1 (epoch seconds)", got)
	}
	var dts []string
	for m.Next() {
		dt, ok := m.Entry().StartDate()
		dts = append(dts, fmt.Sprintf("%s %v", dt, ok))
	}
	if want := []string{"2026-03-02 true", "2026-03-02 true", " false", "2026-03-04 true"}; !slices.Equal(dts, want) {
		t.Errorf("entries' dates %v, want %v", dts, want)
	}
	var total int
	for i := range 3 {
		sm, err := extract.NewManifest("m", []byte(content), extract.Shard(i, 3))
		if err != nil {
			t.Fatal(err)
		}
		total += sm.StartDates()["2026-03-02"]
	}
	if total != 2 {
		t.Errorf("shards count %d dated entries, want 2 in all", total)
	}
}

// TestManifestFunctions: the functions a manifest's ARNs name, whatever
// their qualifier, as unqualified function ARNs: the same name in another
// region or account is another function (a run per region into one
// archive is no overlap); none known (nil) once an ARN does not parse.
func TestManifestFunctions(t *testing.T) {
	const east, west = "arn:aws:lambda:us-east-1:123456789012:function:", "arn:aws:lambda:eu-west-1:123456789012:function:"
	for _, c := range []struct {
		arns []string
		want []string
	}{
		{nil, []string{}},
		{[]string{
			east + "orders:$LATEST/durable-execution/a/1",
			east + "payments:7/durable-execution/b/2",
			east + "orders:live/durable-execution/c/3",
			west + "orders:1/durable-execution/d/4",
		}, []string{west + "orders", east + "orders", east + "payments"}},
		{[]string{east + "orders:1/durable-execution/a/1", "arn:x"}, nil},
	} {
		var lines []string
		for _, a := range c.arns {
			lines = append(lines, fmt.Sprintf(`{"DurableExecutionArn":%q}`, a))
		}
		m, err := extract.NewManifest("m", []byte(strings.Join(lines, "\n")))
		if err != nil {
			t.Fatal(err)
		}
		if got := m.Functions(); !slices.Equal(got, c.want) || (got == nil) != (c.want == nil) {
			t.Errorf("%v: functions %#v, want %#v", c.arns, got, c.want)
		}
	}
}

// TestManifestStartSpans: a function's span is the earliest and latest
// start its entries give, and none when one of them gives none.
func TestManifestStartSpans(t *testing.T) {
	const fn = "arn:aws:lambda:us-east-1:123456789012:function:"
	lines := []string{
		`{"DurableExecutionArn":"` + fn + `orders:1/durable-execution/a/1","StartTimestamp":"2026-03-05T10:00:00Z"}`,
		`{"DurableExecutionArn":"` + fn + `orders:$LATEST/durable-execution/b/2","StartTimestamp":"2026-01-02T00:00:00.5Z"}`,
		`{"DurableExecutionArn":"` + fn + `orders:2/durable-execution/c/3","StartTimestamp":"2026-02-01T00:00:00Z"}`,
		`{"DurableExecutionArn":"` + fn + `payments:1/durable-execution/d/4","StartTimestamp":"2026-02-01T00:00:00Z"}`,
		`{"DurableExecutionArn":"` + fn + `payments:1/durable-execution/e/5"}`,
		`{"DurableExecutionArn":"` + fn + `payments:1/durable-execution/f/6","StartTimestamp":"2026-02-03T00:00:00Z"}`,
	}
	m, err := extract.NewManifest("m", []byte(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][2]time.Time{fn + "orders": {time.Date(2026, 1, 2, 0, 0, 0, 5e8, time.UTC), time.Date(2026, 3, 5, 10, 0, 0, 0, time.UTC)}}
	got := m.StartSpans()
	if len(got) != len(want) {
		t.Fatalf("spans %v, want %v", got, want)
	}
	for f, w := range want {
		if g := got[f]; !g[0].Equal(w[0]) || !g[1].Equal(w[1]) {
			t.Errorf("%s: span %v, want %v", f, g, w)
		}
	}
}

// FuzzManifest: whatever a manifest holds, reading it ends, and every
// error is one line that names the manifest and never quotes the file (the
// fuzzer's inputs carry a token-like marker; a message that quoted a line
// would carry it). With TolerateBadLines the same holds for each skipped
// line, and an entry always has an ARN without a line break.
func FuzzManifest(f *testing.F) {
	const marker = "QZX-SECRET-QZX"
	for _, s := range []string{
		`{"DurableExecutionArn":"a","CheckpointToken":"` + marker + `"}` + "\n",
		`{"DurableExecutionArn":"a","CheckpointToken":"` + marker + `","StartTimestamp":"2026-01-02T03:04:05Z"}`,
		`{"DurableExecutionArn":1,"CheckpointToken":"` + marker + `"}`,
		"durable_execution_arn,checkpoint_token\na," + marker + "\n\"b,c\"," + marker + ",x\n",
		"\xEF\xBB\xBF\r\n" + `{"DurableExecutionArn":"a"}` + "\r\n" + marker + "\n",
		"a," + marker + "\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, content []byte) {
		check := func(err error) {
			t.Helper()
			if msg := err.Error(); !strings.HasPrefix(msg, "manifest m ") || strings.Contains(msg, marker) || strings.ContainsAny(msg, "\r\n") {
				t.Fatalf("error %q: must name the manifest, on one line, without quoting it", msg)
			}
		}
		for _, opts := range [][]extract.ManifestOption{nil, {extract.TolerateBadLines()}} {
			m, err := extract.NewManifest("m", content, opts...)
			if err != nil {
				check(err)
				continue
			}
			n := 0
			for m.Next() {
				if e := m.Entry(); e.ARN == "" || strings.ContainsAny(e.ARN, "\r\n") {
					t.Fatalf("entry %+v", e)
				}
				n++
			}
			if err := m.Err(); err != nil {
				t.Fatalf("the check passed, then: %v", err)
			}
			for _, s := range m.Skipped() {
				check(s)
			}
			if n != m.Count() {
				t.Fatalf("%d entries read, Count says %d", n, m.Count())
			}
		}
	})
}

// TestManifestWriterReadsBack: the lines a ManifestWriter writes are a
// manifest: each entry's ARN, no token, and its start time where given
// (an ARN with characters JSON could escape kept as it is).
func TestManifestWriterReadsBack(t *testing.T) {
	start := time.Date(2026, 3, 1, 23, 59, 59, 123_000_000, time.FixedZone("", 3600))
	arns := []string{
		"arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/a<b>&c/1",
		"arn:aws:lambda:us-east-1:123456789012:function:notifications-ñ:7/durable-execution/n/2",
	}
	var buf bytes.Buffer
	mw := extract.NewManifestWriter(&buf)
	if err := mw.Write(arns[0], &start); err != nil {
		t.Fatal(err)
	}
	if err := mw.Write(arns[1], nil); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), `\u003c`) {
		t.Errorf("an ARN escaped: %s", buf.String())
	}
	m, err := extract.NewManifest("written", buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	var got []extract.Entry
	for m.Next() {
		got = append(got, m.Entry())
	}
	if err := m.Err(); err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0].ARN != arns[0] || !got[0].Started.Equal(start) || got[0].Token != "" || got[1].ARN != arns[1] || !got[1].Started.IsZero() {
		t.Errorf("read back %+v", got)
	}
}
