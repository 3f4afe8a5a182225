package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"

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
