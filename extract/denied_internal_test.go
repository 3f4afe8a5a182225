package extract

import (
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/smithy-go"
)

// TestDenialsStopOnlyWhenNeverAllowed: Denials stops asking for an
// action on a function's executions after DeniedAfter denials only if
// none of those calls was allowed, per function and qualifier and per
// action; an error that is not the policy's answer (a throttle, the
// network) counts neither way; the caller is told once; and the answer
// not asked reads as a denial.
func TestDenialsStopOnlyWhenNeverAllowed(t *testing.T) {
	var told []string
	d := NewDenials(func(fn, action string, n int) { told = append(told, fn+" "+action) })
	arn := func(fn string) *string {
		return aws.String("arn:aws:lambda:us-east-1:123456789012:function:" + fn + "/durable-execution/e/1")
	}
	denied := &smithy.GenericAPIError{Code: "AccessDeniedException", Message: "not authorized"}
	throttled := &smithy.GenericAPIError{Code: "TooManyRequestsException"}
	d.after(arn("a:1"), "GetDurableExecution", nil) // allowed once
	for range 2 * DeniedAfter {
		d.after(arn("a:1"), "GetDurableExecution", denied)
		d.after(arn("b:1"), "GetDurableExecution", throttled)
		d.after(arn("b:1"), "GetDurableExecution", errors.New("connection reset"))
	}
	for range DeniedAfter - 1 {
		d.after(arn("c:1"), "GetDurableExecution", denied)
	}
	for range DeniedAfter + 2 {
		d.after(arn("d:1"), "GetDurableExecution", denied)
	}
	for _, c := range []struct {
		fn, action string
		stop       bool
	}{
		{"a:1", "GetDurableExecution", false}, // allowed once: each denial is its execution's
		{"b:1", "GetDurableExecution", false}, // never answered by the policy
		{"c:1", "GetDurableExecution", false}, // one denial short
		{"d:1", "GetDurableExecution", true},
		{"d:2", "GetDurableExecution", false},        // another qualifier
		{"d:1", "GetDurableExecutionHistory", false}, // another action
	} {
		err := d.before(arn(c.fn), c.action)
		if (err != nil) != c.stop {
			t.Errorf("%s %s: not asked %v, want %v", c.fn, c.action, err != nil, c.stop)
		}
		if err == nil {
			continue
		}
		if code, reason, passing := errorReason(err); code != "AccessDeniedException" || !strings.HasPrefix(reason, "refused (AccessDeniedException): not asked") || passing {
			t.Errorf("not asked: %s %q (passing %v), want a denial that says so, and not passing", code, reason, passing)
		}
	}
	if len(told) != 1 || told[0] != "arn:aws:lambda:us-east-1:123456789012:function:d:1 GetDurableExecution" {
		t.Errorf("told %q, want d:1's GetDurableExecution once", told)
	}
}
