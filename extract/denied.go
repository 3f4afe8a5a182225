package extract

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"
	"github.com/aws/smithy-go"
)

// DeniedAfter is how many calls of one action (GetDurableExecution, its
// history, its state) on one function's executions (per qualifier) the
// credentials' policy must deny (AccessDeniedException), with none of
// them allowed, before [Denials] stops making that call for the
// function's other executions. A policy allows or denies a function's
// executions alike, and every denied call is an AccessDenied record in
// CloudTrail, where a security team may be watching: a policy that lets
// etl list a function's executions but not read them would otherwise
// cost one denied call for each of them, every night.
const DeniedAfter = 5

// codeDenied is the API's answer to a call the credentials' policy does
// not allow.
const codeDenied = "AccessDeniedException"

// Denials stops asking for what the credentials' policy plainly denies:
// a call of an action on an execution whose function (and qualifier) saw
// DeniedAfter calls of that action denied and none allowed is answered
// AccessDeniedException without being made ("not asked"), so that its
// caller fails it as it fails any denied execution. A call that got no
// answer of the policy's (a network failure, a throttle) counts neither
// way. Safe for concurrent use; wrap a client with History and State.
type Denials struct {
	mu sync.Mutex
	m  map[string]*denials
	// stopped, when set, is told once per function and action, when the
	// asking stops.
	stopped func(function, action string, denied int)
}

type denials struct {
	denied  int
	allowed bool
}

// NewDenials returns an empty Denials; stopped (nil: nothing) is told
// once for each function and action it stops asking for.
func NewDenials(stopped func(function, action string, denied int)) *Denials {
	return &Denials{m: map[string]*denials{}, stopped: stopped}
}

// functionOf is the function and qualifier part of an execution's ARN.
func functionOf(arn *string) string {
	fn, _, _ := strings.Cut(aws.ToString(arn), "/durable-execution/")
	return fn
}

// before is the answer of a call of action on arn not made, or nil to
// make it.
func (d *Denials) before(arn *string, action string) error {
	fn := functionOf(arn)
	d.mu.Lock()
	defer d.mu.Unlock()
	if s := d.m[fn+" "+action]; s != nil && !s.allowed && s.denied >= DeniedAfter {
		return &smithy.GenericAPIError{Code: codeDenied, Fault: smithy.FaultClient,
			Message: fmt.Sprintf("not asked: the credentials' policy denied lambda:%s on %d executions of %s and allowed none", action, s.denied, fn)}
	}
	return nil
}

// after records what err, the outcome of a call of action on arn, says of
// the policy.
func (d *Denials) after(arn *string, action string, err error) {
	var api smithy.APIError
	denied := errors.As(err, &api) && api.ErrorCode() == codeDenied
	if err != nil && !denied {
		return
	}
	fn := functionOf(arn)
	d.mu.Lock()
	defer d.mu.Unlock()
	s := d.m[fn+" "+action]
	if s == nil {
		s = &denials{}
		d.m[fn+" "+action] = s
	}
	if !denied {
		s.allowed = true
		return
	}
	if s.denied++; s.denied == DeniedAfter && !s.allowed && d.stopped != nil {
		d.stopped(fn, action, s.denied)
	}
}

// guarded makes call, a call of action on arn, under d's rule.
func guarded[O any](d *Denials, arn *string, action string, call func() (O, error)) (O, error) {
	if err := d.before(arn, action); err != nil {
		var none O
		return none, err
	}
	out, err := call()
	d.after(arn, action, err)
	return out, err
}

// History is api under d's rule.
func (d *Denials) History(api HistoryAPI) HistoryAPI { return deniedHistory{api, d} }

// State is api under d's rule.
func (d *Denials) State(api StateAPI) StateAPI { return deniedState{api, d} }

type deniedHistory struct {
	api HistoryAPI
	d   *Denials
}

func (g deniedHistory) GetDurableExecution(ctx context.Context, in *lambda.GetDurableExecutionInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionOutput, error) {
	return guarded(g.d, in.DurableExecutionArn, "GetDurableExecution", func() (*lambda.GetDurableExecutionOutput, error) { return g.api.GetDurableExecution(ctx, in, opts...) })
}

func (g deniedHistory) GetDurableExecutionHistory(ctx context.Context, in *lambda.GetDurableExecutionHistoryInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionHistoryOutput, error) {
	return guarded(g.d, in.DurableExecutionArn, "GetDurableExecutionHistory", func() (*lambda.GetDurableExecutionHistoryOutput, error) {
		return g.api.GetDurableExecutionHistory(ctx, in, opts...)
	})
}

type deniedState struct {
	api StateAPI
	d   *Denials
}

func (g deniedState) GetDurableExecutionState(ctx context.Context, in *lambda.GetDurableExecutionStateInput, opts ...func(*lambda.Options)) (*lambda.GetDurableExecutionStateOutput, error) {
	return guarded(g.d, in.DurableExecutionArn, "GetDurableExecutionState", func() (*lambda.GetDurableExecutionStateOutput, error) {
		return g.api.GetDurableExecutionState(ctx, in, opts...)
	})
}
