package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
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
		{&pgconn.PgError{Code: "55P03"}, true},  // a lock not had within lock_timeout
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

// TestS3ListingFailsOnRepeatedToken: a store whose listing hands back the
// continuation token it was given (on which the SDK's paginator asks for
// the same page for ever) fails the listing, naming it, instead of
// hanging the run; so does one whose listing of multipart uploads does.
func TestS3ListingFailsOnRepeatedToken(t *testing.T) {
	srv, bucket := s3test.Bucket(t)
	sink := &s3Sink{client: repeatingTokens{srv.Client()}, bucket: bucket, prefix: "p"}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second) // a loop would meet it
	defer cancel()
	_, err := sink.list(ctx, "operations")
	if err == nil || !strings.Contains(err.Error(), "continuation token") || !strings.Contains(err.Error(), "s3://"+bucket+"/p/operations") || ctx.Err() != nil {
		t.Errorf("listing with a repeated token: %v", err)
	}
	// So too the listing of multipart uploads that a run's start makes
	// to abort a killed run's (truncated, its markers those it was given,
	// or none).
	if err := sink.abortStale(ctx, time.Now()); err == nil || !strings.Contains(err.Error(), "multipart uploads of s3://"+bucket) || ctx.Err() != nil {
		t.Errorf("uploads listed with repeated markers: %v", err)
	}
}

// repeatingTokens answers every ListObjectsV2 as truncated, with the same
// continuation token, and every ListMultipartUploads as truncated, with
// the markers it was asked with.
type repeatingTokens struct{ S3API }

func (r repeatingTokens) ListMultipartUploads(ctx context.Context, in *s3.ListMultipartUploadsInput, opts ...func(*s3.Options)) (*s3.ListMultipartUploadsOutput, error) {
	out, err := r.S3API.ListMultipartUploads(ctx, in, opts...)
	if err == nil {
		out.IsTruncated, out.NextKeyMarker, out.NextUploadIdMarker = aws.Bool(true), in.KeyMarker, in.UploadIdMarker
	}
	return out, err
}

func (r repeatingTokens) ListObjectsV2(ctx context.Context, in *s3.ListObjectsV2Input, opts ...func(*s3.Options)) (*s3.ListObjectsV2Output, error) {
	c := *in
	c.ContinuationToken = nil
	out, err := r.S3API.ListObjectsV2(ctx, &c, opts...)
	if err == nil {
		out.IsTruncated, out.NextContinuationToken = aws.Bool(true), aws.String("again")
	}
	return out, err
}
