package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"

	"github.com/urfave/cli/v2"
)

// version is set at build time with -ldflags "-X main.version=..." (the
// Makefile's git describe); without it, main takes the build's own
// (builtVersion). Every file's created_by and the runs table carry it.
var version = "dev"

// builtVersion is the version a build without -X main.version says it is:
// the module's (go install ...@v1.2.0), else the commit it was built from
// (-dirty when the tree had changes), else "dev".
func builtVersion(info *debug.BuildInfo, ok bool) string {
	if !ok {
		return "dev"
	}
	if v := info.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var rev, dirty string
	for _, s := range info.Settings {
		switch {
		case s.Key == "vcs.revision":
			rev = s.Value[:min(12, len(s.Value))]
		case s.Key == "vcs.modified" && s.Value == "true":
			dirty = "-dirty"
		}
	}
	if rev == "" {
		return "dev"
	}
	return "dev-" + rev + dirty
}

// Exit statuses, as the contract gives them.
const (
	exitOK     = 0
	exitFailed = 1 // the run finished, but something was not archived
	exitUsage  = 2 // bad usage or configuration, found before any fetch
)

// exitError carries an exit status with its one-line message.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageError(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func main() {
	if version == "dev" {
		version = builtVersion(debug.ReadBuildInfo())
	}
	os.Exit(process(os.Args))
}

// process is main as a process runs it: a write to a standard output or
// error whose reader is gone (a closed pipe) fails with EPIPE instead of
// ending the process (Go's default for SIGPIPE), so that a run whose log
// reader died still archives, publishes and writes its report, and exits
// with the status of what it did (see output).
func process(args []string) int {
	signal.Ignore(syscall.SIGPIPE)
	return run(args, os.Stdout, os.Stderr)
}

// run is main without the process: it returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	out := &output{w: stdout}
	app := newApp(out, stderr)
	err := app.Run(args)
	switch {
	case out.err == nil:
	case out.summary:
		// What the command did stands (its archive, report and metrics
		// are written before its summary): only the summary is lost.
		if l := jsonLogger(app); l != nil {
			l.Warn("the summary was not printed", "error", out.err.Error())
		} else {
			fmt.Fprintf(stderr, "etl: warning: the summary was not printed: standard output: %v\n", out.err)
		}
	case err == nil:
		err = outputError(out.err)
	}
	if err == nil {
		return exitOK
	}
	code, msg := exitUsage, err.Error() // urfave/cli's own errors are about usage: unknown flags, bad values
	var ee *exitError
	if errors.As(err, &ee) {
		if ee.err == nil || ee.err.Error() == "" {
			return ee.code
		}
		code, msg = ee.code, ee.Error()
	}
	// The last line says why; under --log-format json it is a record, as
	// every other line on stderr is.
	if l := jsonLogger(app); l != nil {
		l.Error(msg, "exit_code", code)
	} else {
		fmt.Fprintln(stderr, "etl: "+msg)
	}
	return code
}

// output is a command's standard output: it keeps the first write error
// and writes nothing after it. Where the output is what the command makes
// (discover's manifest, schema's statements, help, version), a write that
// failed fails the command, exit 1 (outputError). Where it is a summary
// for people of what the command did elsewhere (run, verify, compact,
// migrate: see summaryOnly), the status stays that of what it did and
// stderr says the summary was lost.
type output struct {
	w       io.Writer
	err     error
	summary bool
}

func (o *output) Write(p []byte) (int, error) {
	if o.err != nil {
		return 0, o.err
	}
	n, err := o.w.Write(p)
	if err != nil {
		o.err = err
	}
	return n, err
}

// summaryOnly is the Before of a command whose standard output is only a
// summary of what it did (see output).
func summaryOnly(c *cli.Context) error {
	if o, ok := c.App.Writer.(*output); ok {
		o.summary = true
	}
	return nil
}

// outputError is a command's failure to write its output: it was not all
// written (a full disk, a pipe whose reader stopped).
func outputError(err error) error {
	return &exitError{code: exitFailed, err: fmt.Errorf("standard output: %w", err)}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	return &cli.App{
		Name:    "etl",
		Usage:   "archive AWS Lambda durable executions as Athena-ready Parquet",
		Version: version,
		Description: `etl finds the durable executions of functions
(ListDurableExecutionsByFunction; no checkpoint token needed) and archives each
from GetDurableExecution and every page of its event history, or, for manifest
entries that carry a checkpoint token, from every page of
GetDurableExecutionState. It flattens the operations and events into rows and
writes them as Parquet under DEST/{executions,operations,events}/dt=.../
(local or S3) and/or into Postgres tables, in one pass.

Quick start against the local emulator: make demo
Against AWS, nightly: etl run --function orders --dest s3://bucket/archive
                      etl verify --function orders --dest s3://bucket/archive

Every flag also reads an ETL_-prefixed environment variable (--dest from
ETL_DEST). Exit status: 0 all archived, 1 some execution or destination
failed (see --report), 2 bad usage or configuration, or another run
archiving the same functions into the destination (nothing was fetched).`,
		Writer:          stdout,
		ErrWriter:       stderr,
		HideHelpCommand: true,
		ExitErrHandler:  func(*cli.Context, error) {}, // run() reports errors
		Commands:        []*cli.Command{runCommand(), discoverCommand(), verifyCommand(), compactCommand(), migrateCommand(), schemaCommand(), versionCommand()},
	}
}

func versionCommand() *cli.Command {
	return &cli.Command{
		Name:  "version",
		Usage: "print the version",
		Action: func(c *cli.Context) error {
			fmt.Fprintln(c.App.Writer, "etl", version)
			return nil
		},
	}
}
