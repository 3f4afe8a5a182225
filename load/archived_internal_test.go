package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go"

	"github.com/durable-etl/durable-etl/schema"
)

// vanishing is a local sink whose reads of one file fail as if a
// compaction had removed it since the listing, the first times times.
type vanishing struct {
	*localSink
	name  string
	times int
}

func (v *vanishing) read(ctx context.Context, name string, fn func(io.ReaderAt, int64) error) error {
	if strings.HasSuffix(name, v.name) && v.times > 0 {
		v.times--
		return &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
	}
	return v.localSink.read(ctx, name, fn)
}

// TestArchivedListsAgainWhenAFileVanishes: a file removed between the
// ledger's listing and its read (a compaction beside the run) has the
// listing read again rather than failing the run's start (or the read
// back of an execution's archived data); a file that keeps vanishing fails
// it, naming the file.
func TestArchivedListsAgainWhenAFileVanishes(t *testing.T) {
	dir := t.TempDir()
	status := "SUCCEEDED"
	for i := range 3 {
		p := filepath.Join(dir, "executions", "dt=2026-01-01", fmt.Sprintf("part-r-aaaa-%05d.parquet", i+1))
		os.MkdirAll(filepath.Dir(p), 0o755)
		rows := []schema.Execution{{ExecutionArn: fmt.Sprint("arn-", i), Status: &status, RunID: "r", ExtractedAt: time.Now()}}
		if err := parquet.WriteFile(p, rows); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []struct {
		times int
		fails bool
	}{{1, false}, {3, false}, {10, true}} {
		d := newParquet(dir, &vanishing{localSink: &localSink{dir: dir}, name: "part-r-aaaa-00002.parquet", times: c.times}, t.TempDir(), nil)
		a, err := d.Archived(context.Background(), "next")
		switch {
		case c.fails && (err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "part-r-aaaa-00002")):
			t.Errorf("vanishing %d times: %v, want the file named, not there", c.times, err)
		case !c.fails && err != nil:
			t.Errorf("vanishing %d times: %v", c.times, err)
		case !c.fails && a.Len() != 3:
			t.Errorf("vanishing %d times: %d executions, want 3", c.times, a.Len())
		}
		// So does the read back of an execution's archived data.
		d = newParquet(dir, &vanishing{localSink: &localSink{dir: dir}, name: "part-r-aaaa-00002.parquet", times: c.times}, t.TempDir(), nil)
		data, err := d.ArchivedData(context.Background(), "arn-1", "2026-01-01", 10)
		switch {
		case c.fails && (err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), "part-r-aaaa-00002")):
			t.Errorf("ArchivedData, vanishing %d times: %v, want the file named, not there", c.times, err)
		case !c.fails && (err != nil || data == nil):
			t.Errorf("ArchivedData, vanishing %d times: %v, %v; want arn-1's", c.times, data, err)
		}
	}
}
