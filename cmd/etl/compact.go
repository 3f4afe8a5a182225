package main

import (
	"fmt"
	"os"
	"os/signal"
	"regexp"
	"strings"
	"syscall"
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
		&cli.StringFlag{Name: "compression", Usage: "zstd, snappy or none", EnvVars: env("compression"), Value: "zstd"},
		&cli.StringFlag{Name: "region", Usage: "AWS `REGION`, for s3://", EnvVars: env("region")},
		&cli.StringFlag{Name: "profile", Usage: "AWS shared-config `PROFILE`, for s3://", EnvVars: env("profile")},
	}
	flags = append(flags, s3Flags()...)
	return &cli.Command{
		Name:  "compact",
		Usage: "merge each partition's files into few large ones; optionally drop superseded snapshots",
		Description: `Every run adds a file per table to each partition it touches; Athena reads
few large files best. compact merges each partition's files into files of
about --target-file-size, publishes them the way runs publish (complete before
visible), then removes the files they replace. A kill leaves every row
visible (the _latest views stay right) and the next compact finishes. Files
younger than --min-age are left alone, so it can run beside etl run on the
same destination. Postgres needs no compaction.

Examples:
  etl compact --dest s3://my-archive/durable
  etl compact --dest /data/archive --dt 2026-01-01..2026-03-31 --keep latest`,
		Flags: flags,
		Action: func(c *cli.Context) error {
			if c.Args().Present() {
				return usageError("compact: unexpected argument %q", c.Args().First())
			}
			o := load.CompactOptions{MinAge: c.Duration("min-age")}
			switch c.String("keep") {
			case "all":
			case "latest":
				o.KeepLatest = true
			default:
				return usageError("--keep %q: want all or latest", c.String("keep"))
			}
			var err error
			if o.From, o.To, err = parseDTRange(c.String("dt")); err != nil {
				return usageError("--dt: %v", err)
			}
			if o.MinAge < 0 {
				return usageError("--min-age must not be negative")
			}
			target, err := parseSize(c.String("target-file-size"))
			if err != nil {
				return usageError("--target-file-size: %v", err)
			}
			codec, ok := load.Compressions[c.String("compression")]
			if !ok {
				return usageError("--compression %q: want zstd, snappy or none", c.String("compression"))
			}
			d, err := load.ParseDest(c.String("dest"))
			if err != nil {
				return usageError("--dest: %v", err)
			}
			ctx, stop := signal.NotifyContext(c.Context, os.Interrupt, syscall.SIGTERM)
			defer stop()
			opts := []load.ParquetOption{load.WithTargetFileSize(target), load.WithCompression(codec), load.WithCreatedBy("durable-etl " + version)}
			var pq *load.Parquet
			switch d.Kind {
			case load.DestPostgres:
				return usageError("--dest %s: Postgres needs no compaction (one row per key, updated in place)", d)
			case load.DestS3:
				s3c := &s3Clients{c: c}
				client, err := s3c.get(ctx)
				if err != nil {
					return usageError("--dest %s: %v", d, err)
				}
				pq, err = load.NewParquetS3(ctx, client, d.Bucket, d.Prefix, "", load.S3Options{SSE: c.String("s3-sse"), KMSKeyID: c.String("s3-kms-key-id"),
					StorageClass: c.String("s3-storage-class"), StaleUploadAge: staleAge(c.Duration("s3-abort-uploads-older-than"))}, opts...)
				if err != nil {
					return usageError("--dest: %v", err)
				}
			default:
				if _, err := os.Stat(d.Path); err != nil {
					return usageError("--dest %s: %v", d, err)
				}
				if pq, err = load.NewParquetDir(d.Path, opts...); err != nil {
					return usageError("--dest: %v", err)
				}
			}
			st, err := pq.Compact(ctx, o)
			fmt.Fprintf(c.App.Writer, "compact %s: %d partitions, %d files into %d, %d rows into %d", d, st.Partitions, st.FilesIn, st.FilesOut, st.RowsIn, st.RowsOut)
			if st.Finished > 0 {
				fmt.Fprintf(c.App.Writer, ", %d files of an interrupted compaction removed", st.Finished)
			}
			fmt.Fprintln(c.App.Writer)
			if err != nil {
				return &exitError{code: exitFailed, err: fmt.Errorf("compact: %w (rerun to finish)", err)}
			}
			return nil
		},
	}
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
