// Package optest makes random durable-execution operations for property
// tests, and compares operations with a readable diff.
package optest

import (
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/durable-etl/durable-etl/schema"
	"github.com/durable-etl/durable-etl/transform"
)

// Diff is cmp.Diff for operations: it sees through the SDK's unexported
// marker fields and compares times with Equal.
func Diff(want, got any) string {
	return cmp.Diff(want, got, cmpopts.IgnoreUnexported(types.Operation{}, types.ExecutionDetails{}, types.ContextDetails{},
		types.StepDetails{}, types.WaitDetails{}, types.CallbackDetails{}, types.ChainedInvokeDetails{}, types.ErrorObject{}))
}

// DiffRow is Diff between want and the operation that row reconstructs
// to; a row that does not reconstruct is a difference too.
func DiffRow(want types.Operation, row *schema.Operation) string {
	got, err := transform.Reconstruct(row)
	if err != nil {
		return "reconstruct: " + err.Error()
	}
	return Diff(want, got)
}

var (
	allTypes    = []types.OperationType{"EXECUTION", "CONTEXT", "STEP", "WAIT", "CALLBACK", "CHAINED_INVOKE", "FUTURE_KIND", ""}
	allStatuses = []types.OperationStatus{"STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED", "HIBERNATING", ""}
	alphabet    = []string{"a", "Z", "0", " ", "\t", "\n", "\r", "\x00", "\x01", "\x1f", "\x7f", "\"", "\\", "/", "<", ">", "&", "é", "ß", "日本", "🚀", "\u2028", "\u2029", "\ufeff", "{", "}", ",", ":"}
)

// Gen makes random operations from a seeded source.
type Gen struct {
	R *rand.Rand
	// LargeEvery makes one string in that many 256 KiB long (0: never).
	LargeEvery int
	// NoNUL leaves U+0000 out of strings (Postgres text cannot hold it).
	NoNUL bool
}

// New is a generator seeded with seed.
func New(seed uint64) *Gen {
	return &Gen{R: rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)), LargeEvery: 400}
}

// Str is a random string: empty now and then, unicode and control
// characters throughout, and 256 KiB long once in LargeEvery.
func (g *Gen) Str() string {
	if g.LargeEvery > 0 && g.R.IntN(g.LargeEvery) == 0 {
		if g.NoNUL {
			return strings.Repeat("x\u00e9\x01{", 256<<10/6)
		}
		return strings.Repeat("x\u00e9\x00{", 256<<10/6)
	}
	n := g.R.IntN(12)
	var b strings.Builder
	for range n {
		b.WriteString(alphabet[g.R.IntN(len(alphabet))])
	}
	if g.NoNUL {
		return strings.ReplaceAll(b.String(), "\x00", "")
	}
	return b.String()
}

// OptStr is nil, empty or random, each about a third of the time.
func (g *Gen) OptStr() *string {
	switch g.R.IntN(3) {
	case 0:
		return nil
	case 1:
		s := ""
		return &s
	}
	s := g.Str()
	return &s
}

// The SDK parses the wire's epoch seconds as a float64 and truncates the
// product with 1000 to whole milliseconds, which loses one millisecond for
// some times in [2^k, 2^(k+10)/1000) seconds: 1987-01 to 1987-06,
// 2004-01-10 to 2004-11-04, and from 2038-01-19 on. Times between
// ExactFrom and ExactUntil survive it exactly.
var (
	ExactFrom  = time.Date(2004, 11, 5, 0, 0, 0, 0, time.UTC)
	ExactUntil = time.Date(2038, 1, 19, 0, 0, 0, 0, time.UTC)
)

// Time is nil or a UTC time with millisecond precision between ExactFrom
// and ExactUntil.
func (g *Gen) Time() *time.Time {
	if g.R.IntN(3) == 0 {
		return nil
	}
	t := time.UnixMilli(ExactFrom.UnixMilli() + g.R.Int64N(ExactUntil.Sub(ExactFrom).Milliseconds())).UTC()
	return &t
}

// errObj is nil a third of the time, an Error object with no members one
// time in eight, and otherwise each member absent, empty or random on its
// own (every combination occurs).
func (g *Gen) errObj() *types.ErrorObject {
	switch {
	case g.R.IntN(3) == 0:
		return nil
	case g.R.IntN(8) == 0:
		return &types.ErrorObject{}
	}
	e := &types.ErrorObject{ErrorMessage: g.OptStr(), ErrorType: g.OptStr(), ErrorData: g.OptStr()}
	switch g.R.IntN(3) {
	case 1:
		e.StackTrace = []string{}
	case 2:
		for range 1 + g.R.IntN(5) {
			e.StackTrace = append(e.StackTrace, g.Str())
		}
	}
	return e
}

func (g *Gen) boolp() *bool {
	if g.R.IntN(3) == 0 {
		return nil
	}
	b := g.R.IntN(2) == 0
	return &b
}

// Operation is a random operation, its details chosen independently of its
// Type (so unknown types carry details too): none or exactly one details
// object most of the time, and one time in six several at once, each with
// its own Result and Error. One in fifty has no Id.
func (g *Gen) Operation() types.Operation {
	id := g.Str()
	op := types.Operation{
		Id: &id, ParentId: g.OptStr(), Name: g.OptStr(), SubType: g.OptStr(),
		Type:           allTypes[g.R.IntN(len(allTypes))],
		Status:         allStatuses[g.R.IntN(len(allStatuses))],
		StartTimestamp: g.Time(), EndTimestamp: g.Time(),
	}
	if g.R.IntN(50) == 0 {
		op.Id = nil
	}
	if g.R.IntN(6) == 0 {
		for k := range 6 {
			if g.R.IntN(2) == 0 {
				g.details(&op, k)
			}
		}
		return op
	}
	g.details(&op, g.R.IntN(7))
	return op
}

// details sets details object k (0-5 in the API's order; 6 sets none).
func (g *Gen) details(op *types.Operation, k int) {
	switch k {
	case 0:
		op.ExecutionDetails = &types.ExecutionDetails{InputPayload: g.OptStr()}
	case 1:
		op.ContextDetails = &types.ContextDetails{ReplayChildren: g.boolp(), Result: g.OptStr(), Error: g.errObj()}
	case 2:
		op.StepDetails = &types.StepDetails{Attempt: int32(g.R.IntN(10)) - 1, NextAttemptTimestamp: g.Time(), Result: g.OptStr(), Error: g.errObj()}
	case 3:
		op.WaitDetails = &types.WaitDetails{ScheduledEndTimestamp: g.Time()}
	case 4:
		op.CallbackDetails = &types.CallbackDetails{CallbackId: g.OptStr(), Result: g.OptStr(), Error: g.errObj()}
	case 5:
		op.ChainedInvokeDetails = &types.ChainedInvokeDetails{Result: g.OptStr(), Error: g.errObj()}
	}
}
