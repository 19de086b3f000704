package catalog

import (
	"context"
	"database/sql/driver"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

func fastPolicy(attempts int) retryPolicy {
	return retryPolicy{attempts: attempts, base: time.Microsecond, max: time.Millisecond}
}

// failing returns an fn that fails with errs in turn, then succeeds, and
// counts its calls.
func failing(calls *int, errs ...error) func(context.Context) error {
	return func(context.Context) error {
		*calls++
		if *calls <= len(errs) {
			return errs[*calls-1]
		}
		return nil
	}
}

func TestRetry(t *testing.T) {
	conflict := &mysql.MySQLError{Number: 9007, Message: "Write conflict"}
	connReset := &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}
	tests := []struct {
		name      string
		errs      []error
		attempts  int
		wantCalls int
		wantErr   error
	}{
		{"a TiDB write conflict is retried until the write succeeds", []error{conflict, conflict}, 5, 3, nil},
		{"a TiDB retryable commit error is retried", []error{&mysql.MySQLError{Number: 8022}}, 5, 2, nil},
		{"a TiDB select-for-update conflict is retried", []error{&mysql.MySQLError{Number: 8002}}, 5, 2, nil},
		{"a deadlock is retried", []error{&mysql.MySQLError{Number: 1213}}, 5, 2, nil},
		{"a lock wait timeout is retried", []error{&mysql.MySQLError{Number: 1205}}, 5, 2, nil},
		{"a bad connection is retried", []error{driver.ErrBadConn}, 5, 2, nil},
		{"an invalid connection is retried", []error{fmt.Errorf("exec: %w", mysql.ErrInvalidConn)}, 5, 2, nil},
		{"a connection reset is retried", []error{connReset}, 5, 2, nil},
		{"a duplicate key is returned at once", []error{&mysql.MySQLError{Number: 1062}}, 5, 1, &mysql.MySQLError{Number: 1062}},
		{"a syntax error is returned at once", []error{&mysql.MySQLError{Number: 1064}}, 5, 1, &mysql.MySQLError{Number: 1064}},
		{"a context deadline is never retried", []error{context.DeadlineExceeded}, 5, 1, context.DeadlineExceeded},
		{"retries stop after the last attempt", []error{conflict, conflict, conflict, conflict}, 3, 3, conflict},
		{"one attempt means no retry", []error{conflict}, 1, 1, conflict},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			calls := 0
			err := retry(context.Background(), fastPolicy(tt.attempts), slog.New(slog.DiscardHandler), failing(&calls, tt.errs...))
			if calls != tt.wantCalls {
				t.Errorf("calls = %d, want %d", calls, tt.wantCalls)
			}
			switch want := tt.wantErr.(type) {
			case nil:
				if err != nil {
					t.Errorf("err = %v, want nil", err)
				}
			case *mysql.MySQLError:
				var got *mysql.MySQLError
				if !errors.As(err, &got) || got.Number != want.Number {
					t.Errorf("err = %v, want MySQL error %d", err, want.Number)
				}
			default:
				if !errors.Is(err, want) {
					t.Errorf("err = %v, want %v", err, want)
				}
			}
		})
	}
}

func TestRetryGivesUpWithTheLastErrorAndTheAttemptCount(t *testing.T) {
	calls := 0
	conflict := &mysql.MySQLError{Number: 9007, Message: "Write conflict"}
	err := retry(context.Background(), fastPolicy(3), slog.New(slog.DiscardHandler), failing(&calls, conflict, conflict, conflict))
	if err == nil || err.Error() != "gave up after 3 attempts: "+conflict.Error() {
		t.Errorf("err = %v", err)
	}
}

func TestRetryStopsWaitingWhenTheContextEnds(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	p := retryPolicy{attempts: 5, base: time.Hour, max: time.Hour}
	calls := 0
	done := make(chan error, 1)
	go func() {
		done <- retry(ctx, p, slog.New(slog.DiscardHandler), failing(&calls, driver.ErrBadConn, driver.ErrBadConn))
	}()
	time.Sleep(10 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) || !errors.Is(err, driver.ErrBadConn) {
			t.Errorf("err = %v, want it to match both context.Canceled and the last error", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("retry kept waiting after its context was cancelled")
	}
}
