package load

import (
	"context"
	"errors"
	"io"
	"net"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/retry"

	"github.com/jackc/pgerrcode"
	"github.com/jackc/pgx/v5/pgconn"
)

// Transient reports whether err, a destination's, is a failure that the
// same work may get past when tried again shortly: a database connection
// lost or refused (a server restarting, a failover, a network cut), a
// server shutting down or starting up, a transaction chosen as a
// deadlock's victim. Nothing of the execution that met it is kept (see
// [Execution]), so it can be archived again from the start. A destination
// marks such errors with a Transient() bool method, which this asks for
// anywhere in err's chain.
func Transient(err error) bool {
	var t interface{ Transient() bool }
	return errors.As(err, &t) && t.Transient()
}

// transientError marks a destination's error as Transient.
type transientError struct{ err error }

func (e *transientError) Error() string   { return e.err.Error() }
func (e *transientError) Unwrap() error   { return e.err }
func (e *transientError) Transient() bool { return true }

// pgTransient tells the Postgres errors worth trying again: the server's
// connection-exception class (08), its shutdowns and start-up
// (57P01-03), too many connections, serialization failures and deadlocks
// (40001, 40P01), a lock not had within the role's lock_timeout (55P03:
// another transaction held it; etl lifts the role's other timeouts, not
// this one, so a lock held for ever does not hold the run for ever), a
// server that takes no writes (25006: during a
// failover the name may lead to the old primary, now a replica, for a
// while); and, without a server's answer, a connection that could not be
// made, broke or was closed under the call. Not a context that ended (the
// run is stopping), nor anything else the server said (a missing table,
// a refused password, a full disk are not mended by waiting).
func pgTransient(err error) bool {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		switch pgErr.Code {
		case pgerrcode.AdminShutdown, pgerrcode.CrashShutdown, pgerrcode.CannotConnectNow,
			pgerrcode.TooManyConnections, pgerrcode.SerializationFailure, pgerrcode.DeadlockDetected, pgerrcode.LockNotAvailable,
			pgerrcode.ReadOnlySQLTransaction: // a failover's old primary, or a replica, for a moment
			return true
		}
		return pgerrcode.IsConnectionException(pgErr.Code)
	}
	var connect *pgconn.ConnectError
	var netErr net.Error
	return errors.As(err, &connect) || errors.As(err, &netErr) ||
		errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// readAttempts is how many times a read of a Postgres destination (what a
// run's ledger, verify read) is made when it fails transiently, waiting
// a jittered backoff of up to 2, 4, 8, then 10 s between: about ten
// seconds in all, on average, for a restart or a failover to end.
const readAttempts = 5

// reread returns read's result, read again (from the start: read must not
// keep anything of a failed try) when it fails transiently ([Transient]),
// up to readAttempts times, unless ctx ends first.
func reread[T any](ctx context.Context, p *Postgres, what string, read func() (T, error)) (T, error) {
	backoff := retry.NewExponentialJitterBackoff(10 * time.Second)
	for attempt := 1; ; attempt++ {
		out, err := read()
		if err == nil || !Transient(err) || attempt == readAttempts {
			return out, err
		}
		wait, _ := backoff.BackoffDelay(attempt, err) // never fails
		p.cfg.logger.Warn("the database failed for a moment: reading again", "what", what, "try", attempt, "of", readAttempts-1, "after", wait.Round(time.Millisecond), "reason", err.Error())
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return out, err
		case <-t.C:
		}
	}
}
