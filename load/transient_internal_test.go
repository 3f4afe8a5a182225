package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/durable-etl/durable-etl/internal/s3test"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestPGTransient(t *testing.T) {
	_, refused := pgx.Connect(context.Background(), "postgres://u@127.0.0.1:1/db?connect_timeout=2")
	for _, c := range []struct {
		err  error
		want bool
	}{
		{&pgconn.PgError{Code: "57P01"}, true}, // a restart ends the connection
		{&pgconn.PgError{Code: "57P03"}, true}, // starting up
		{&pgconn.PgError{Code: "08006"}, true},
		{&pgconn.PgError{Code: "40P01"}, true},
		{&pgconn.PgError{Code: "25006"}, true},
		{&pgconn.PgError{Code: "53300"}, true},
		{&pgconn.PgError{Code: "57014"}, false}, // a query we canceled
		{&pgconn.PgError{Code: "42P01"}, false}, // no such table
		{&pgconn.PgError{Code: "28P01"}, false}, // a wrong password
		{&pgconn.PgError{Code: "53100"}, false}, // a full disk
		{refused, true},
		{fmt.Errorf("copy: %w", io.ErrUnexpectedEOF), true},
		{fmt.Errorf("begin: %w", pgconn.ErrConnClosed), true},
		{fmt.Errorf("copy: %w", context.Canceled), false},
		{errors.New("no table events to write rows to"), false},
	} {
		if got := pgTransient(fmt.Errorf("destination x: %w", c.err)); got != c.want {
			t.Errorf("%v: transient %v, want %v", c.err, got, c.want)
		}
	}
	if refused == nil {
		t.Fatal("a connection to port 1 was not refused")
	}
	p := &Postgres{target: "postgres://x"}
	var pgErr *pgconn.PgError
	if err := p.wrap("copy", &pgconn.PgError{Code: "57P01"}); !Transient(err) || !errors.As(err, &pgErr) {
		t.Errorf("wrap(57P01) = %v: not Transient, or the server's error lost", err)
	}
	if err := p.wrap("copy", &pgconn.PgError{Code: "42P01"}); Transient(err) {
		t.Errorf("wrap(42P01) = %v: Transient", err)
	}
}

// TestPoolerHint: the errors of pgx's statement cache through a pooler in
// transaction mode (a statement prepared in another server session) say
// what to change; others say nothing of it.
func TestPoolerHint(t *testing.T) {
	p := &Postgres{target: "postgres://u@pooler/db"}
	for code, want := range map[string]bool{"42P05": true, "26000": true, "42P01": false, "57P01": false} {
		err := p.wrap("copy events", fmt.Errorf("statement description failed: %w", &pgconn.PgError{Code: code, Message: "prepared statement \"stmtcache_1\""}))
		if got := strings.Contains(err.Error(), "add default_query_exec_mode=exec to the URL"); got != want {
			t.Errorf("%s: %v: hint %v, want %v", code, err, got, want)
		}
		if pe := (*pgconn.PgError)(nil); !errors.As(err, &pe) || pe.Code != code {
			t.Errorf("%s: the PgError is no longer in the chain: %v", code, err)
		}
	}
}

// TestS3RemoveSaysWhyInOneLine: removing from a bucket that is gone (the
// run's record at the end of a run whose bucket was deleted under it)
// fails with the reason users read, not the SDK's error with its request
// and host ids.
func TestS3RemoveSaysWhyInOneLine(t *testing.T) {
	srv := s3test.Start(t)
	sink := &s3Sink{client: srv.Client(), bucket: "etl-test-gone-" + strings.ToLower(t.Name()[:8]), prefix: "p"}
	err := sink.remove(context.Background(), "_runs/r1.json")
	if err == nil || err.Error() != "no such bucket" {
		t.Fatalf("remove from a missing bucket: %v; want no such bucket", err)
	}
}
