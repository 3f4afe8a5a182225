package load

import (
	"bytes"
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/parquet-go/parquet-go"
)

// TestDistinctARNs: every ARN of a file's execution_arn column is given,
// whether the column is dictionary-encoded (etl's files) or plain (a file
// another tool rewrote), over several row groups and pages; a plain
// page's run of equal ARNs is given once.
func TestDistinctARNs(t *testing.T) {
	type plain struct {
		ExecutionArn string `parquet:"execution_arn"`
		Seq          int64  `parquet:"seq"`
	}
	type dict struct {
		ExecutionArn string `parquet:"execution_arn,dict"`
		Seq          int64  `parquet:"seq"`
	}
	var arns []string
	want := map[string]bool{}
	runs := 0
	for i := range 300 {
		arn := fmt.Sprintf("arn:aws:lambda:us-east-1:123456789012:function:f:1/durable-execution/e-%03d/x", i%97)
		if i == 0 || arn != arns[len(arns)-1] {
			runs++
		}
		for range 1 + i%4 {
			arns = append(arns, arn)
		}
		want[arn] = true
	}
	for _, c := range []struct {
		name  string
		write func(*bytes.Buffer) error
	}{
		{"plain", func(b *bytes.Buffer) error {
			return writeRows(b, arns, func(a string, i int) plain { return plain{a, int64(i)} })
		}},
		{"dictionary", func(b *bytes.Buffer) error {
			return writeRows(b, arns, func(a string, i int) dict { return dict{a, int64(i)} })
		}},
	} {
		var b bytes.Buffer
		if err := c.write(&b); err != nil {
			t.Fatal(err)
		}
		pf, err := parquet.OpenFile(bytes.NewReader(b.Bytes()), int64(b.Len()))
		if err != nil {
			t.Fatal(err)
		}
		if len(pf.RowGroups()) < 2 {
			t.Fatalf("%s: %d row groups", c.name, len(pf.RowGroups()))
		}
		got := map[string]bool{}
		calls := 0
		if err := distinctARNs(pf, func(arn []byte) { got[string(arn)] = true; calls++ }); err != nil {
			t.Fatal(err)
		}
		if !maps.Equal(got, want) {
			t.Errorf("%s: %d ARNs given, want %d: %v", c.name, len(got), len(want), slices.Sorted(maps.Keys(got))[:3])
		}
		if c.name == "plain" && (calls < runs || calls >= len(arns)/2) {
			t.Errorf("plain: %d calls for %d runs of equal ARNs", calls, runs)
		}
	}
}

// writeRows writes one row per ARN, in small row groups and pages.
func writeRows[T any](b *bytes.Buffer, arns []string, row func(string, int) T) error {
	w := parquet.NewGenericWriter[T](b, parquet.MaxRowsPerRowGroup(200), parquet.PageBufferSize(512))
	rows := make([]T, len(arns))
	for i, a := range arns {
		rows[i] = row(a, i)
	}
	if _, err := w.Write(rows); err != nil {
		return err
	}
	return w.Close()
}
