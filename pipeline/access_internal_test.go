package pipeline

import (
	"errors"
	"log/slog"
	"testing"

	"github.com/durable-etl/durable-etl/extract"
)

// TestDeniedOnlyWhenNeverAllowed: the run stops asking for a function's
// executions after DeniedAfter denials only if none was allowed, per
// function and qualifier and per way of reading; an answer that says
// nothing of the policy (the network's) counts neither way.
func TestDeniedOnlyWhenNeverAllowed(t *testing.T) {
	r := &runner{sum: &Summary{}}
	log := slog.New(slog.DiscardHandler)
	exec := func(fn string, i int) entry {
		return entry{Entry: extract.Entry{ARN: "arn:aws:lambda:us-east-1:123456789012:function:" + fn + "/durable-execution/e/" + string(rune('a'+i))}}
	}
	denied := &extract.ExecutionError{Code: "AccessDeniedException", Reason: "denied"}
	network := &extract.ExecutionError{Code: "network", Reason: "no answer", Err: errors.New("reset")}
	h, s := historySource{r: r}, stateSource{r: r}
	r.noteAccess(exec("a:1", 0), h, nil, log) // allowed once
	for i := range 2 * DeniedAfter {
		r.noteAccess(exec("a:1", i), h, denied, log)
		r.noteAccess(exec("b:1", i), h, network, log)
	}
	for i := range DeniedAfter - 1 {
		r.noteAccess(exec("c:1", i), h, denied, log)
		r.noteAccess(exec("d:1", i), h, denied, log)
	}
	r.noteAccess(exec("d:1", 9), h, denied, log)
	for _, c := range []struct {
		fn   string
		src  source
		want bool
	}{
		{"a:1", h, false}, // allowed once: denials after it are each execution's
		{"b:1", h, false}, // never answered
		{"c:1", h, false}, // one denial short
		{"d:1", h, true},
		{"d:2", h, false}, // another qualifier
		{"d:1", s, false}, // read through state
	} {
		if got := r.deniedBefore(exec(c.fn, 20), c.src); got != c.want {
			t.Errorf("%s read as %T: failed without a call %v, want %v", c.fn, c.src, got, c.want)
		}
	}
	if r.sum.ExecutionsFailed != 1 || r.sum.Failures[0].Code != "AccessDeniedException" {
		t.Errorf("summary %+v: want the one failed without a call, as denied", r.sum)
	}
}
