package main

import (
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/urfave/cli/v2"

	"github.com/durable-etl/durable-etl/discovery"
	"github.com/durable-etl/durable-etl/internal/spool"
	"github.com/durable-etl/durable-etl/pipeline"
)

// shardOf resolves this process's shard: --shard I/N, else a Kubernetes
// Indexed Job (JOB_COMPLETION_INDEX with --shard-count), else an AWS Batch
// array job (AWS_BATCH_JOB_ARRAY_INDEX and AWS_BATCH_JOB_ARRAY_SIZE). n is 0
// when the run is not sharded.
func shardOf(c *cli.Context) (i, n int, err error) {
	parse := func(is, ns, what string) (int, int, error) {
		i, err1 := strconv.Atoi(strings.TrimSpace(is))
		n, err2 := strconv.Atoi(strings.TrimSpace(ns))
		if err1 != nil || err2 != nil || n < 1 || i < 0 || i >= n {
			return 0, 0, fmt.Errorf("%s: want an index I and a count N with 0 <= I < N, got %q of %q", what, is, ns)
		}
		return i, n, nil
	}
	if s := c.String("shard"); s != "" {
		is, ns, ok := strings.Cut(s, "/")
		if !ok {
			return 0, 0, fmt.Errorf("--shard %q: want I/N, e.g. 0/8", s)
		}
		return parse(is, ns, "--shard")
	}
	if idx := os.Getenv("JOB_COMPLETION_INDEX"); idx != "" && c.IsSet("shard-count") {
		return parse(idx, strconv.Itoa(c.Int("shard-count")), "JOB_COMPLETION_INDEX and --shard-count")
	}
	if idx, size := os.Getenv("AWS_BATCH_JOB_ARRAY_INDEX"), os.Getenv("AWS_BATCH_JOB_ARRAY_SIZE"); idx != "" && size != "" {
		return parse(idx, size, "AWS_BATCH_JOB_ARRAY_INDEX and AWS_BATCH_JOB_ARRAY_SIZE")
	}
	if c.IsSet("shard-count") {
		return 0, 0, fmt.Errorf("--shard-count needs JOB_COMPLETION_INDEX (a Kubernetes Indexed Job)")
	}
	return 0, 0, nil
}

// batchRunID is the run id of a run in an AWS Batch job: the job's id
// (AWS_BATCH_JOB_ID), an array child's without its ":index", so that the
// children of one array share a run id, as they share a Kubernetes
// Indexed Job's name, and an attempt Batch retries resumes what the last
// one left (its job id is the same); "" outside Batch. A Batch command
// cannot expand the variable itself (the image has no shell).
func batchRunID() string {
	id, _, _ := strings.Cut(os.Getenv("AWS_BATCH_JOB_ID"), ":")
	return id
}

// writeMetrics writes the run's metrics in Prometheus text format, for
// node_exporter's textfile collector (whole or not at all: writeTextfile).
func writeMetrics(path string, s *pipeline.Summary, runErr error) error {
	reg := prometheus.NewRegistry()
	gauge := func(name, help string, v float64, labels ...string) {
		g := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "durable_etl_" + name, Help: help}, labelNames(labels))
		reg.MustRegister(g)
		g.WithLabelValues(labelValues(labels)...).Set(v)
	}
	success := 0.0
	notListed := len(discovery.ListingFailures(reportedFunctions(s.Functions)))
	if runErr == nil && s.ExecutionsFailed == 0 && !s.Interrupted && notListed == 0 && len(s.UnreadableFiles) == 0 {
		success = 1
	}
	gauge("last_run_timestamp_seconds", "When the last run finished.", float64(s.FinishedAt.UnixMilli())/1000)
	gauge("last_run_success", "1 if the last run archived every execution, else 0.", success)
	gauge("last_run_duration_seconds", "How long the last run took.", s.Duration.Seconds())
	ev := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "durable_etl_last_run_executions", Help: "Executions of the last run, by result."}, []string{"result"})
	reg.MustRegister(ev)
	ev.WithLabelValues("ok").Set(float64(s.ExecutionsOK))
	ev.WithLabelValues("failed").Set(float64(s.ExecutionsFailed))
	gauge("last_run_operations", "Operations archived by the last run.", float64(s.Operations))
	gauge("last_run_api_calls", "Lambda API calls of the last run, every operation.", float64(s.APICalls))
	byOp := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "durable_etl_last_run_api_calls_by_operation", Help: "Lambda API calls of the last run, by operation."}, []string{"operation"})
	reg.MustRegister(byOp)
	for op, n := range s.APICallsByOperation {
		byOp.WithLabelValues(op).Set(float64(n))
	}
	evs := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "durable_etl_last_run_events", Help: "History events the last run read, and those it wrote (new)."}, []string{"kind"})
	reg.MustRegister(evs)
	evs.WithLabelValues("read").Set(float64(s.Events))
	evs.WithLabelValues("new").Set(float64(s.EventsNew))
	gauge("last_run_api_retries", "Retried attempts of the last run.", float64(s.APIRetries))
	gauge("last_run_destination_retries", "Executions of the last run archived again after a destination's transient failure.", float64(s.DestinationRetries))
	gauge("last_run_executions_tried_again", "Executions of the last run tried once more at its end after the API failed them for a passing reason (throttled, 5xx, no answer; see --retry-failed-after).", float64(s.TriedAgain))
	fnGauge := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "durable_etl_last_run_function_executions", Help: "Executions of each discovered function in the last run, by result."}, []string{"function", "result"})
	reg.MustRegister(fnGauge)
	for _, f := range s.Functions {
		fnGauge.WithLabelValues(f.Function, "found").Set(float64(f.Found))
		fnGauge.WithLabelValues(f.Function, "archived").Set(float64(f.Archived))
		fnGauge.WithLabelValues(f.Function, "skipped_terminal").Set(float64(f.SkippedTerminal))
		fnGauge.WithLabelValues(f.Function, "failed").Set(float64(f.Failed))
	}
	gauge("last_run_functions_not_listed", "Functions whose executions the last run could not list (access denied, retries run out): none of theirs was archived.", float64(notListed))
	gauge("last_run_executions_without_payloads", "Executions the last run archived without their payloads, which the service could not decrypt (a KMS error).", float64(s.WithoutPayloads))
	gauge("last_run_executions_payloads_recovered", "Executions archived without their payloads by an earlier run that the last run archived again with them (the service could decrypt them again).", float64(s.PayloadsRecovered))
	gauge("last_run_executions_still_without_payloads", "Executions archived final without their payloads whose payloads the last run still could not read (their archive unchanged).", float64(s.StillWithoutPayloads))
	gauge("last_run_retention_at_risk", "Executions whose history expires within --retention-warning and that are not archived in a terminal state.", float64(len(s.RetentionAtRisk)))
	gauge("last_run_bytes_written", "Bytes of Parquet the last run published.", float64(s.BytesWritten))
	gauge("last_run_rows_written", "Rows the last run wrote.", float64(s.RowsWritten))
	return writeTextfile(path, reg)
}

func labelNames(kv []string) []string {
	var out []string
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, kv[i])
	}
	return out
}

func labelValues(kv []string) []string {
	var out []string
	for i := 1; i < len(kv); i += 2 {
		out = append(out, kv[i])
	}
	return out
}

// writeTextfile writes what reg gathers to path in Prometheus text format,
// whole or not at all (spool.WriteFile: node_exporter never reads half a
// file, and a kill leaves no temporary file beside it).
func writeTextfile(path string, reg prometheus.Gatherer) error {
	mfs, err := reg.Gather()
	if err != nil {
		return err
	}
	return spool.WriteFile(path, func(w io.Writer) error {
		for _, mf := range mfs {
			if _, err := expfmt.MetricFamilyToText(w, mf); err != nil {
				return err
			}
		}
		return nil
	})
}
