package transform_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/internal/emulator"
	"github.com/durable-etl/durable-etl/internal/emulator/emulatortest"
	"github.com/durable-etl/durable-etl/internal/golden"
	"github.com/durable-etl/durable-etl/internal/optest"
	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// TestGoldenPages feeds recorded API pages (testdata/pages/NAME/page-*.json,
// in the service's own wire form; a page's NextMarker names the next file)
// through the real SDK client and the transform, and compares the rows with
// testdata/golden/NAME.json. Regenerate with: go test ./transform -update
func TestGoldenPages(t *testing.T) {
	dirs, err := filepath.Glob(filepath.Join("testdata", "pages", "*"))
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no recorded pages: %v", err)
	}
	for _, dir := range dirs {
		name := filepath.Base(dir)
		t.Run(name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				page := "page-1.json"
				if m := r.URL.Query().Get("Marker"); m != "" {
					page = "page-" + m[1:] + ".json"
				}
				if r.URL.Query().Get("CheckpointToken") != "tok" {
					t.Errorf("request without the checkpoint token: %s", r.URL)
				}
				b, err := os.ReadFile(filepath.Join(dir, page))
				if err != nil {
					t.Errorf("the client asked for %s: %v", page, err)
					http.Error(w, "no such page", 500)
					return
				}
				w.Header().Set("Content-Type", "application/json")
				w.Write(b)
			}))
			defer srv.Close()
			emulatortest.Env(t)
			client, err := extract.NewClient(context.Background(), extract.WithEndpointURL(srv.URL), extract.WithMaxAttempts(1))
			if err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:lambda:eu-west-1:123456789012:function:" + name + ":$LATEST/durable-execution/golden/0001"
			snap := transform.NewSnapshot(transform.RowMeta{ExecutionArn: arn, RunID: "golden-run", ExtractedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)})
			var rows []schema.Operation
			err = extract.Drain(context.Background(), client, extract.Entry{ARN: arn, Token: "tok"}, 1000, func(_ context.Context, p extract.Page) error {
				n := len(rows)
				rows = snap.Add(rows, p.Operations)
				for i := range p.Operations { // and the rows give back what the SDK handed over
					if diff := optest.DiffRow(p.Operations[i], &rows[n+i]); diff != "" {
						t.Errorf("operation %d does not reconstruct (-want +got):\n%s", n+i, diff)
					}
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			dt, _ := snap.Partition(time.Time{})
			var b strings.Builder
			fmt.Fprintf(&b, "dt = %s\n\n# executions\n", dt)
			writeRow(&b, schema.Executions, snap.Finish())
			for i, r := range rows {
				fmt.Fprintf(&b, "\n# operations[%d]\n", i)
				writeRow(&b, schema.Operations, r)
			}
			compareGolden(t, name, b.String())
		})
	}
}

// TestGoldenHistories feeds histories recorded by AWS's durable-execution
// SDK for JavaScript (testdata/histories/NAME.json, the SDK's own
// recordings of its examples run by AWS's test runner, and runner-NAME.json,
// callbacks, chained invokes and more recorded by us with that runner) and
// by AWS's service (cloud-java-NAME.json, the Java SDK's DAG contexts; see
// the README there) through the emulator and the real SDK client, four events a page,
// and compares the event rows and the operations folded from them with
// testdata/golden/history-NAME.txt. Every event row gives its event back,
// and an invocation record's empty Error is kept as that member alone.
// Regenerate with: go test ./transform -update
func TestGoldenHistories(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "histories", "*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no recorded histories: %v", err)
	}
	allEmptyErrors := 0
	defer func() {
		if allEmptyErrors == 0 {
			t.Error("no invocation record with an empty Error: the recordings are not what this test expects")
		}
	}()
	for _, file := range files {
		name := strings.TrimSuffix(filepath.Base(file), ".json")
		t.Run(name, func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			var recorded []types.Event // the API's member names, timestamps in RFC 3339
			if err := json.Unmarshal(b, &recorded); err != nil {
				t.Fatal(err)
			}
			arn := "arn:aws:lambda:us-east-1:123456789012:function:" + name + ":$LATEST/durable-execution/golden/0001"
			e := emulator.Fixed(arn, "", nil)
			e.History = emulator.FixedHistory(recorded)
			srv := emulator.New()
			srv.Add(e)
			_, client := emulatortest.Start(t, srv, extract.WithMaxAttempts(1))
			meta := transform.RowMeta{ExecutionArn: arn, Source: transform.SourceHistory, RunID: "golden-run", ExtractedAt: time.Date(2026, 2, 1, 0, 0, 0, 0, time.UTC)}
			fold := transform.NewFolder()
			defer fold.Close()
			var keys transform.EventKeys
			var events []schema.Event
			emptyErrors := 0
			err = extract.DrainHistory(context.Background(), client, arn, 4, func(_ context.Context, p extract.HistoryPage) error {
				for i := range p.Events {
					events = transform.AppendEventRow(events, &p.Events[i], keys.Next(&p.Events[i]), meta)
					row := &events[len(events)-1]
					if diff := optest.DiffEventRow(p.Events[i], row); diff != "" {
						t.Errorf("event %d does not reconstruct (-want +got):\n%s", len(events), diff)
					}
					if d := p.Events[i].InvocationCompletedDetails; d != nil && d.Error != nil && d.Error.Payload == nil {
						emptyErrors++
						if row.OverflowJSON == nil || *row.OverflowJSON != `{"Details":{"InvocationCompletedDetails":{"Error":{}}}}` {
							t.Errorf("event %d: an empty Error kept as %v", len(events), row.OverflowJSON)
						}
					}
				}
				fold.Add(p.Events)
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if len(events) != len(recorded) {
				t.Fatalf("%d events read of %d recorded", len(events), len(recorded))
			}
			allEmptyErrors += emptyErrors
			snap := transform.NewSnapshot(meta)
			var ops []schema.Operation
			if ops, err = fold.AddTo(snap, nil); err != nil {
				t.Fatal(err)
			}
			var out strings.Builder
			fmt.Fprintf(&out, "# executions (from the folded operations; GetDurableExecution adds its own columns)\n")
			writeRow(&out, schema.Executions, snap.Finish())
			for i, r := range ops {
				fmt.Fprintf(&out, "\n# operations[%d]\n", i)
				writeRow(&out, schema.Operations, r)
			}
			for i, r := range events {
				fmt.Fprintf(&out, "\n# events[%d]\n", i)
				writeRow(&out, schema.Events, r)
			}
			compareGolden(t, "history-"+name, out.String())
		})
	}
}

// compareGolden compares got with testdata/golden/NAME.txt (-update
// rewrites it).
func compareGolden(t *testing.T, name, got string) {
	t.Helper()
	golden.Compare(t, filepath.Join("testdata", "golden", name+".txt"), got)
}

// writeRow writes one row as "column = value" lines in the table's column
// order: JSON for values, NULL for a null.
func writeRow(b *strings.Builder, table *schema.Table, row any) {
	v := reflect.ValueOf(row)
	for i, c := range table.Columns {
		f := v.Field(i)
		var val any = f.Interface()
		if (f.Kind() == reflect.Pointer || f.Kind() == reflect.Slice) && f.IsNil() {
			fmt.Fprintf(b, "%s = NULL\n", c.Name)
			continue
		}
		if f.Kind() == reflect.Pointer {
			val = f.Elem().Interface()
		}
		if tm, ok := val.(time.Time); ok {
			val = tm.UTC().Format("2006-01-02T15:04:05.000Z")
		}
		j, _ := json.Marshal(val)
		fmt.Fprintf(b, "%s = %s\n", c.Name, j)
	}
}
