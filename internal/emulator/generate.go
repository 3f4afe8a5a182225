package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"math/rand/v2"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// GenerateOptions shape the executions [Generate] makes. The zero value of a
// field means its default.
type GenerateOptions struct {
	// MinOps and MaxOps bound each execution's operation count (defaults 5
	// and 400). Set both to one value for executions of exactly that size.
	MinOps, MaxOps int
	// LargePayloadEvery makes one operation in that many carry a 256 KiB
	// result (default 2000; negative: never).
	LargePayloadEvery int
	// RandomPayloads makes the large payloads random text, which no
	// compression shrinks (default: a repeated pattern).
	RandomPayloads bool
	// Start is the earliest execution start (default 2026-01-05T00:00:00Z);
	// executions spread over the following Days days (default 3).
	Start time.Time
	Days  int
	// Settled gives executions and operations the spread of statuses and
	// retries a production history has instead of the tests' uniform one:
	// SUCCEEDED but for one in 20 (whose status is drawn from them all),
	// one step in 20 retried (2 to 5 attempts): about 2.5 events an
	// operation. The odd shapes (unknown types and statuses, empty Errors
	// and payloads, large payloads, which only SUCCEEDED operations carry)
	// stay. Default: every status equally likely and every step's attempt
	// uniform over 1 to 5, which makes a history about 4.7 events an
	// operation (AWS's recorded example histories: about 2.2).
	Settled bool
}

// FunctionNames are the functions generated executions belong to, and
// DemoAliases aliases of theirs (function, alias, version).
var (
	FunctionNames = []string{"orders", "payments", "shipping", "notifications-ñ", "inventory"}
	DemoAliases   = map[string]map[string]string{"orders": {"live": "12", "canary": "7"}, "payments": {"live": "7"}}
)

var (
	qualifiers = []string{"$LATEST", "$LATEST.PUBLISHED", "7", "12"}
	statuses   = []types.OperationStatus{"STARTED", "PENDING", "READY", "SUCCEEDED", "FAILED", "CANCELLED", "TIMED_OUT", "STOPPED"}
	names      = []string{"validate-order", "charge-card", "reserve-stock", "send-email", "支払い処理", "wait-for-approval", "🚚 ship", "fan-out", "compute\ttotals", "áccount-lookup"}
	errorTypes = []string{"ValidationError", "States.TaskFailed", "TimeoutError", "CardDeclined", "Erreur-Unicode-é"}
)

// Generate makes n realistic executions from seed: nested child contexts,
// retried steps with attempts, failures with stack traces, waits, callbacks,
// chained invokes, every status, unicode, control characters, large payloads
// now and then, an Error object with no members (one error in fifty), and a
// rare operation type or status the SDK does not know.
// The same seed and options always give the same executions. Operations are
// built on demand, so the executions cost memory only while a page is served.
func Generate(seed uint64, n int, o GenerateOptions) []Execution {
	if o.MinOps <= 0 {
		o.MinOps = 5
	}
	if o.MaxOps < o.MinOps {
		o.MaxOps = max(o.MinOps, 400)
	}
	if o.LargePayloadEvery == 0 {
		o.LargePayloadEvery = 2000
	}
	if o.Start.IsZero() {
		o.Start = time.Date(2026, 1, 5, 0, 0, 0, 0, time.UTC)
	}
	if o.Days <= 0 {
		o.Days = 3
	}
	execs := make([]Execution, n)
	for i := range execs {
		g := &execGen{seed: mix(seed, uint64(i)), opts: o}
		r := g.rng(0xe8ec)
		fn := FunctionNames[r.IntN(len(FunctionNames))]
		q := qualifiers[r.IntN(len(qualifiers))]
		g.start = o.Start.Add(time.Duration(r.Int64N(int64(o.Days)*24*3600*1000)) * time.Millisecond)
		g.status = g.drawStatus(r)
		count := o.MinOps + r.IntN(o.MaxOps-o.MinOps+1)
		execs[i] = Execution{
			ARN:   fmt.Sprintf("%s:%s/durable-execution/%s-%d/%016x%016x", functionARN(fn), q, fn, i, r.Uint64(), r.Uint64()),
			Token: fmt.Sprintf("tok-%016x%016x", r.Uint64(), r.Uint64()),
			Len:   count,
			Op:    g.op,
			pause: g.drawPause(),
		}
		execs[i].History = historyOf(&execs[i], g.seed)
	}
	return execs
}

type execGen struct {
	seed   uint64
	opts   GenerateOptions
	start  time.Time
	status types.OperationStatus
}

func mix(a, b uint64) uint64 {
	h := fnv.New64a()
	var buf [16]byte
	binary.LittleEndian.PutUint64(buf[:8], a)
	binary.LittleEndian.PutUint64(buf[8:], b)
	h.Write(buf[:])
	return h.Sum64()
}

// drawStatus is a status drawn from r: any, equally likely, or, Settled,
// SUCCEEDED but for one in 20.
func (g *execGen) drawStatus(r *rand.Rand) types.OperationStatus {
	status := statuses[r.IntN(len(statuses))]
	if g.opts.Settled && r.IntN(20) > 0 {
		status = types.OperationStatusSucceeded
	}
	return status
}

// attempt is a step's attempt number: uniform over 1 to 5, or, Settled,
// 1 but for one step in 20.
func (g *execGen) attempt(r *rand.Rand) int32 {
	if !g.opts.Settled {
		return int32(1 + r.IntN(5))
	}
	if r.IntN(20) > 0 {
		return 1
	}
	return int32(2 + r.IntN(4))
}

func (g *execGen) rng(i uint64) *rand.Rand { return rand.New(rand.NewPCG(g.seed, i)) }

func (g *execGen) id(i int) string { return fmt.Sprintf("%016x", mix(g.seed, uint64(i)+1)) }

// typeOf is operation i's type; it depends on i alone, so a child can ask
// whether an earlier operation is a context without building it.
func (g *execGen) typeOf(i int) types.OperationType {
	if i == 0 {
		return types.OperationTypeExecution
	}
	switch p := g.rng(uint64(i)).IntN(1000); {
	case p < 450:
		return types.OperationTypeStep
	case p < 600:
		return types.OperationTypeContext
	case p < 730:
		return types.OperationTypeWait
	case p < 860:
		return types.OperationTypeCallback
	case p < 995:
		return types.OperationTypeChainedInvoke
	default:
		return "SCHEDULED_TASK" // a type this SDK does not know
	}
}

func (g *execGen) op(i int) types.Operation {
	t := g.typeOf(i)
	r := g.rng(uint64(i))
	r.IntN(1000) // the draw typeOf made
	start := g.start.Add(time.Duration(i)*137*time.Millisecond + time.Duration(r.IntN(100))*time.Millisecond)
	op := types.Operation{Id: aws.String(g.id(i)), Type: t, StartTimestamp: &start}
	status := g.drawStatus(r)
	if i == 0 {
		status = g.status
		op.Name = aws.String("handler")
		op.ExecutionDetails = &types.ExecutionDetails{InputPayload: aws.String(fmt.Sprintf(`{"orderId":"o-%d","items":[1,2,3],"note":"café \u2028 <b>&amp;</b>"}`, g.seed%100000))}
		if r.IntN(20) == 0 {
			op.ExecutionDetails.InputPayload = aws.String("") // an empty payload is kept apart from none
		}
	} else {
		if r.IntN(200) == 0 {
			status = "PAUSED" // a status this SDK does not know
		}
		if i > 1 {
			j := i - 1 - r.IntN(min(i-1, 30))
			if g.typeOf(j) == types.OperationTypeContext {
				op.ParentId = aws.String(g.id(j))
			}
		}
		if r.IntN(10) > 0 {
			op.Name = aws.String(names[r.IntN(len(names))])
		}
	}
	op.Status = status
	terminal := status == "SUCCEEDED" || status == "FAILED" || status == "CANCELLED" || status == "TIMED_OUT" || status == "STOPPED"
	if terminal {
		end := start.Add(time.Duration(1+r.IntN(60000)) * time.Millisecond)
		op.EndTimestamp = &end
	}
	var result *string
	var errObj *types.ErrorObject
	if status == "SUCCEEDED" {
		result = aws.String(fmt.Sprintf(`{"ok":true,"n":%d,"msg":"done ✓"}`, r.IntN(1e6)))
		if g.opts.LargePayloadEvery > 0 && r.IntN(g.opts.LargePayloadEvery) == 0 {
			result = aws.String(`{"blob":"` + largeText(r, g.opts.RandomPayloads) + `"}`)
		}
	}
	if status == "FAILED" || status == "TIMED_OUT" {
		errObj = genError(r)
	}
	switch t {
	case types.OperationTypeStep:
		op.SubType = aws.String("Step")
		d := &types.StepDetails{Attempt: g.attempt(r), Result: result, Error: errObj}
		if status == "PENDING" || status == "READY" {
			next := start.Add(time.Duration(1+r.IntN(300)) * time.Second)
			d.NextAttemptTimestamp = &next
		}
		if status == "PENDING" && d.Attempt%2 == 0 {
			// A wait-for-condition check not met yet: a retry that carries
			// the check's state, not an error.
			op.SubType = aws.String("WaitForCondition")
			d.Result = aws.String(fmt.Sprintf(`{"checks":%d}`, d.Attempt))
		}
		op.StepDetails = d
	case types.OperationTypeContext:
		// The sub-types AWS's SDKs write (Dag: the Java SDK's DAG contexts,
		// as the service recorded them in transform/testdata/histories).
		op.SubType = aws.String([]string{"RunInChildContext", "Parallel", "Map", "ParallelBranch", "MapIteration", "WaitForCallback", "Dag"}[r.IntN(7)])
		d := &types.ContextDetails{Result: result, Error: errObj}
		if r.IntN(3) > 0 {
			d.ReplayChildren = aws.Bool(r.IntN(2) == 0)
		}
		op.ContextDetails = d
	case types.OperationTypeWait:
		op.SubType = aws.String("Wait")
		end := start.Add(time.Duration(1+r.IntN(3600)) * time.Second)
		op.WaitDetails = &types.WaitDetails{ScheduledEndTimestamp: &end}
	case types.OperationTypeCallback:
		op.SubType = aws.String("Callback")
		op.CallbackDetails = &types.CallbackDetails{CallbackId: aws.String(fmt.Sprintf("cb-%x", r.Uint64())), Result: result, Error: errObj}
	case types.OperationTypeChainedInvoke:
		op.SubType = aws.String("ChainedInvoke")
		op.ChainedInvokeDetails = &types.ChainedInvokeDetails{Result: result, Error: errObj}
	}
	return op
}

// largeText is 256 KiB of payload text: a repeated pattern, or random
// base64 that no compression shrinks.
func largeText(r *rand.Rand, random bool) string {
	if !random {
		return strings.Repeat("ab\u00e9cd", 256<<10/6)
	}
	b := make([]byte, 192<<10)
	for i := 0; i < len(b); i += 8 {
		binary.LittleEndian.PutUint64(b[i:], r.Uint64())
	}
	return base64.StdEncoding.EncodeToString(b)
}

func genError(r *rand.Rand) *types.ErrorObject {
	e := &types.ErrorObject{
		ErrorType:    aws.String(errorTypes[r.IntN(len(errorTypes))]),
		ErrorMessage: aws.String(fmt.Sprintf("failed after retry %d: \"quoted\", tab\t, bell\x07, null\x00 and ünïcödé", r.IntN(9))),
	}
	if r.IntN(2) == 0 {
		e.ErrorData = aws.String(`{"code":` + fmt.Sprint(r.IntN(600)) + `}`)
	}
	switch r.IntN(4) {
	case 0: // no stack trace
	case 1:
		e.StackTrace = []string{} // present but empty
	default:
		for k := range 1 + r.IntN(6) {
			e.StackTrace = append(e.StackTrace, fmt.Sprintf("    at handler (/var/task/index.mjs:%d:%d)", 10+k, r.IntN(80)))
		}
	}
	if r.IntN(50) == 0 {
		return &types.ErrorObject{} // "Error":{} on the wire: some producers send it
	}
	return e
}

// WriteManifest writes the executions' JSON Lines manifest.
func WriteManifest(w io.Writer, execs []Execution) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	for _, e := range execs {
		if err := enc.Encode(struct {
			DurableExecutionArn string
			CheckpointToken     string
		}{e.ARN, e.Token}); err != nil {
			return err
		}
	}
	return nil
}
