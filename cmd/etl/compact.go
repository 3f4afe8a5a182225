package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"regexp"
	"runtime/debug"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/load"
)

func compactCommand() *cli.Command {
	flags := []cli.Flag{
		&cli.StringFlag{Name: "dest", Usage: "the Parquet archive: a `DIR`, file:///abs/path or s3://BUCKET/PREFIX", EnvVars: env("dest"), Value: "./archive"},
		&cli.StringFlag{Name: "dt", Usage: "only the partitions in `FROM..TO` (YYYY-MM-DD, inclusive; either side may be empty), or one date", EnvVars: env("dt")},
		&cli.StringFlag{Name: "keep", Usage: "all: merge every row; latest: also drop the snapshots a newer one supersedes (what the _latest views hide)", EnvVars: env("keep"), Value: "all"},
		&cli.DurationFlag{Name: "min-age", Usage: "leave alone files published less than this long ago (a run in progress)", EnvVars: env("min-age"), Value: time.Hour},
		&cli.StringFlag{Name: "target-file-size", Usage: "merged files of about this `SIZE`", EnvVars: env("target-file-size"), Value: "256MiB"},
		&cli.StringFlag{Name: "row-group-size", Usage: "end merged row groups at about this `SIZE` (or 64K rows); a row group of a quarter of it, or 32K rows, whose rows are all kept is copied whole", EnvVars: env("row-group-size"), Value: "64MiB"},
		&cli.StringFlag{Name: "compression", Usage: "zstd, snappy or none", EnvVars: env("compression"), Value: "zstd"},
		memoryLimitFlag(),
		&cli.DurationFlag{Name: "progress-interval", Usage: "log a progress line (partitions looked at of all, rows read) at most this often", EnvVars: env("progress-interval"), Value: 30 * time.Second},
		&cli.StringFlag{Name: "region", Usage: "AWS `REGION`, for s3://", EnvVars: env("region")},
		&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE`, for s3://", EnvVars: env("profile")},
	}
	flags = append(flags, logFlags()...)
	flags = append(flags, s3Flags()...)
	return &cli.Command{
		Name:   "compact",
		Before: summaryOnly,
		Usage:  "merge each partition's files into few large ones; optionally drop superseded snapshots",
		Description: `Every run adds a file per table to each partition it touches; Athena reads
few large files best. compact merges each partition's files into files of
about --target-file-size, publishes them the way runs publish (complete before
visible), then removes the files they replace. A kill leaves every row
visible (the _latest views stay right) and the next compact finishes. Files
younger than --min-age are left alone, so it can run beside etl run on the
same destination; a second compaction of the same partitions is refused
(exit 2) while one runs. Postgres needs no compaction.

Examples:
  etl compact --dest s3://my-archive/durable
  etl compact --dest /data/archive --dt 2026-01-01..2026-03-31 --keep latest`,
		Flags:  flags,
		Action: compactAction,
	}
}

// compactAction checks the flags, opens the Parquet destination and
// compacts it.
func compactAction(c *cli.Context) error {
	logger, err := loggerFromFlags(c) // first, as run's
	if err != nil {
		return err
	}
	o, opts, d, err := compactOptions(c)
	if err != nil {
		return err
	}
	ml, _ := memoryLimit(c) // checked by compactOptions
	// The collector's default pace: compaction's heap is the keys of the
	// partitions it merges, which --keep latest holds until a table is
	// merged, and GOGC 200 (run's) only held more of them (docs/BENCHMARKS.md).
	limitMemory(ml, 100, false, logger)
	o.KeyMemory = keyMemory(debug.SetMemoryLimit(-1))
	ctx, stop := signalContext(c)
	defer stop()
	pq, err := openParquetDest(ctx, c, d, true, &s3Clients{c: c, logger: logger}, logger, opts...)
	if err != nil {
		return err
	}
	// One compaction at a time over a partition: two would both merge its
	// files, and its rows would be there twice.
	release, err := pq.Lease(ctx, load.RunScope{RunID: "compact-" + newRunID(time.Now()), Compaction: true, DTs: [2]string{o.From, o.To}})
	if err != nil {
		return usageError("%v", err)
	}
	defer func() {
		if err := release(context.WithoutCancel(ctx)); err != nil {
			logger.Warn("could not remove the compaction's record", "err", err)
		}
	}()
	o.OnPartition = compactProgress(logger, c.Duration("progress-interval"))
	st, err := pq.Compact(ctx, o)
	// A compaction that stopped says so first, and how far it got: its
	// counts alone ("0 partitions ...; 128 already compact") read as a
	// finished one.
	head := fmt.Sprintf("compact %s: %d partitions", d, st.Partitions)
	if err != nil {
		head = fmt.Sprintf("compact %s stopped after %d of %d partitions: %d merged", d, st.Done, st.Total, st.Partitions)
	}
	fmt.Fprintf(c.App.Writer, "%s, %d files into %d, %d rows into %d", head, st.FilesIn, st.FilesOut, st.RowsIn, st.RowsOut)
	if st.RowGroupsCopied > 0 {
		fmt.Fprintf(c.App.Writer, " (%d row groups copied whole)", st.RowGroupsCopied)
	}
	if st.Finished > 0 {
		fmt.Fprintf(c.App.Writer, ", %d files of an interrupted compaction removed", st.Finished)
	}
	if st.AlreadyCompact > 0 {
		fmt.Fprintf(c.App.Writer, "; %d partitions already compact", st.AlreadyCompact)
	}
	if st.Young > 0 {
		fmt.Fprintf(c.App.Writer, "; %d files younger than --min-age %s left alone", st.Young, o.MinAge)
	}
	fmt.Fprintln(c.App.Writer)
	switch {
	case err == nil && len(st.Unreadable) > 0:
		return &exitError{code: exitFailed, err: errors.New("compact: " + notParquetLine(st.Unreadable, "their partitions were left as they were, the others compacted"))}
	case err != nil && ctx.Err() != nil:
		return &exitError{code: exitFailed, err: errors.New("compact: interrupted (each partition it was merging is merged or as it was; rerun to finish)")}
	case err != nil:
		return &exitError{code: exitFailed, err: fmt.Errorf("compact: %w (rerun to finish)", err)}
	}
	return nil
}

// compactProgress logs a compaction's progress at most every interval,
// after the partition that ends one.
func compactProgress(logger *slog.Logger, interval time.Duration) func(done, total int, st load.CompactStats) {
	last := time.Now()
	return func(done, total int, st load.CompactStats) {
		if now := time.Now(); now.Sub(last) >= interval {
			last = now
			logger.Info("compacting", "partitions_done", done, "partitions_total", total, "partitions_merged", st.Partitions,
				"files_in", st.FilesIn, "files_out", st.FilesOut, "rows_in", st.RowsIn)
		}
	}
}

// compactOptions reads etl compact's flags; every problem is a usage error.
func compactOptions(c *cli.Context) (load.CompactOptions, []load.ParquetOption, load.Dest, error) {
	o := load.CompactOptions{MinAge: c.Duration("min-age")}
	if c.Args().Present() {
		return o, nil, load.Dest{}, usageError("compact: unexpected argument %q", c.Args().First())
	}

	switch c.String("keep") {
	case "all":
	case "latest":
		o.KeepLatest = true
	default:
		return o, nil, load.Dest{}, usageError("--keep %q: want all or latest", c.String("keep"))
	}
	var err error
	if o.From, o.To, err = parseDTRange(c.String("dt")); err != nil {
		return o, nil, load.Dest{}, usageError("--dt: %v", err)
	}
	if o.MinAge < 0 {
		return o, nil, load.Dest{}, usageError("--min-age must not be negative")
	}
	if _, err := memoryLimit(c); err != nil {
		return o, nil, load.Dest{}, err
	}
	target, err := parseSize(c.String("target-file-size"))
	if err != nil {
		return o, nil, load.Dest{}, usageError("--target-file-size: %v", err)
	}
	rowGroup, err := parseSize(c.String("row-group-size"))
	if err != nil {
		return o, nil, load.Dest{}, usageError("--row-group-size: %v", err)
	}
	codec, ok := load.Compressions[c.String("compression")]
	if !ok {
		return o, nil, load.Dest{}, usageError("--compression %q: want zstd, snappy or none", c.String("compression"))
	}
	d, err := load.ParseDest(c.String("dest"))
	if err != nil {
		return o, nil, load.Dest{}, usageError("--dest: %v", err)
	}
	if d.Kind == load.DestPostgres {
		return o, nil, d, usageError("--dest %s: Postgres needs no compaction (one row per key, updated in place)", d)
	}
	if d.Kind == load.DestS3 {
		if err := checkTempDir(); err != nil { // where the objects it merges are read to
			return o, nil, d, err
		}
	}
	return o, []load.ParquetOption{load.WithTargetFileSize(target), load.WithRowGroupSize(rowGroup), load.WithCompression(codec), load.WithCreatedBy("durable-etl " + version)}, d, nil
}

// openParquetDest opens an existing Parquet archive, local or on S3; the
// error is a usage error naming it. Only a writer (compact) aborts the stale
// multipart uploads a killed run left (--s3-abort-uploads-older-than).
func openParquetDest(ctx context.Context, c *cli.Context, d load.Dest, writer bool, s3c *s3Clients, logger *slog.Logger, opts ...load.ParquetOption) (*load.Parquet, error) {
	opts = append(opts, load.WithLogger(logger))
	if d.Kind == load.DestS3 {
		client, err := s3c.forBucket(ctx, d.Bucket)
		if err != nil {
			return nil, usageError("--dest: destination %s: %v", d, err)
		}
		stale := time.Duration(-1)
		if writer {
			stale = staleAge(c.Duration("s3-abort-uploads-older-than"))
		}
		pq, err := load.NewParquetS3(ctx, client, d.Bucket, d.Prefix, "", load.S3Options{SSE: c.String("s3-sse"), KMSKeyID: c.String("s3-kms-key-id"),
			StorageClass: c.String("s3-storage-class"), StaleUploadAge: stale}, opts...)
		if err != nil {
			return nil, usageError("--dest: %v", err)
		}
		return pq, nil
	}
	if !writer {
		pq, err := load.OpenParquetDirForReading(d.Path, opts...)
		if err != nil {
			return nil, usageError("--dest: %v", err)
		}
		return pq, nil
	}
	if _, err := os.Stat(d.Path); err != nil {
		return nil, usageError("--dest %s: %v", d, err)
	}
	pq, err := load.NewParquetDir(d.Path, opts...)
	if err != nil {
		return nil, usageError("--dest: %v", err)
	}
	return pq, nil
}

var dateRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}$`)

// parseDTRange reads FROM..TO (either side may be empty) or one date.
func parseDTRange(s string) (from, to string, err error) {
	if s == "" {
		return "", "", nil
	}
	from, to, ok := strings.Cut(s, "..")
	if !ok {
		to = from
	}
	for _, v := range []string{from, to} {
		if v == "" {
			continue
		}
		if !dateRE.MatchString(v) {
			return "", "", fmt.Errorf("%q: want YYYY-MM-DD, FROM..TO, FROM.. or ..TO", s)
		}
		if _, err := time.Parse(time.DateOnly, v); err != nil {
			return "", "", fmt.Errorf("%q: %v", s, err)
		}
	}
	if from != "" && to != "" && from > to {
		return "", "", fmt.Errorf("%q: FROM is after TO", s)
	}
	return from, to, nil
}

// keyMemory is the bytes compact --keep latest lets the keys take at
// once (every partition's merged together: load.CompactOptions.KeyMemory)
// under the runtime's memory limit (--memory-limit, or
// GOMEMLIMIT): half of it (at least 1 MiB), the rest left to the merge
// and to the collector's room; without a limit, every key.
func keyMemory(limit int64) int64 {
	if limit <= 0 || limit == math.MaxInt64 {
		return math.MaxInt64
	}
	return max(limit/2, 1<<20)
}
