package emulator

import (
	"bytes"
	"encoding/json"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// The wire shapes. omitzero drops nil pointers and nil slices but keeps an
// empty StackTrace ([]), exactly as the service omits absent members and
// never writes null.
type wireOp struct {
	Id                   *string        `json:"Id,omitzero"`
	ParentId             *string        `json:"ParentId,omitzero"`
	Name                 *string        `json:"Name,omitzero"`
	Type                 string         `json:"Type,omitzero"`
	SubType              *string        `json:"SubType,omitzero"`
	StartTimestamp       *epoch         `json:"StartTimestamp,omitzero"`
	EndTimestamp         *epoch         `json:"EndTimestamp,omitzero"`
	Status               string         `json:"Status,omitzero"`
	ExecutionDetails     *wireExecution `json:"ExecutionDetails,omitzero"`
	ContextDetails       *wireContext   `json:"ContextDetails,omitzero"`
	StepDetails          *wireStep      `json:"StepDetails,omitzero"`
	WaitDetails          *wireWait      `json:"WaitDetails,omitzero"`
	CallbackDetails      *wireCallback  `json:"CallbackDetails,omitzero"`
	ChainedInvokeDetails *wireChained   `json:"ChainedInvokeDetails,omitzero"`
}

type wireExecution struct {
	InputPayload *string `json:"InputPayload,omitzero"`
}

type wireContext struct {
	ReplayChildren *bool      `json:"ReplayChildren,omitzero"`
	Result         *string    `json:"Result,omitzero"`
	Error          *wireError `json:"Error,omitzero"`
}

type wireStep struct {
	Attempt              int32      `json:"Attempt"`
	NextAttemptTimestamp *epoch     `json:"NextAttemptTimestamp,omitzero"`
	Result               *string    `json:"Result,omitzero"`
	Error                *wireError `json:"Error,omitzero"`
	// Budget is a member the SDK does not know (WithFutureMembers).
	Budget *futureBudget `json:"Budget,omitzero"`
}

type futureBudget struct {
	Left int `json:"Left"`
}

type wireWait struct {
	ScheduledEndTimestamp *epoch `json:"ScheduledEndTimestamp,omitzero"`
}

type wireCallback struct {
	CallbackId *string    `json:"CallbackId,omitzero"`
	Result     *string    `json:"Result,omitzero"`
	Error      *wireError `json:"Error,omitzero"`
}

type wireChained struct {
	Result *string    `json:"Result,omitzero"`
	Error  *wireError `json:"Error,omitzero"`
}

type wireError struct {
	ErrorMessage *string  `json:"ErrorMessage,omitzero"`
	ErrorType    *string  `json:"ErrorType,omitzero"`
	ErrorData    *string  `json:"ErrorData,omitzero"`
	StackTrace   []string `json:"StackTrace,omitzero"`
}

// epoch is a timestamp on the wire: epoch seconds as a JSON number with the
// milliseconds as its fraction.
type epoch time.Time

func (e epoch) MarshalJSON() ([]byte, error) {
	ms := time.Time(e).UnixMilli()
	sec, frac := ms/1000, ms%1000
	if frac < 0 {
		sec, frac = sec-1, frac+1000
	}
	b := strconv.AppendInt(nil, sec, 10)
	if frac != 0 {
		b = append(b, '.', byte('0'+frac/100), byte('0'+frac/10%10), byte('0'+frac%10))
	}
	return b, nil
}

func toEpoch(t *time.Time) *epoch {
	if t == nil {
		return nil
	}
	e := epoch(*t)
	return &e
}

func toWireError(e *types.ErrorObject) *wireError {
	if e == nil {
		return nil
	}
	return &wireError{ErrorMessage: e.ErrorMessage, ErrorType: e.ErrorType, ErrorData: e.ErrorData, StackTrace: e.StackTrace}
}

func toWire(op *types.Operation, future bool) wireOp {
	w := wireOp{
		Id: op.Id, ParentId: op.ParentId, Name: op.Name, Type: string(op.Type), SubType: op.SubType,
		StartTimestamp: toEpoch(op.StartTimestamp), EndTimestamp: toEpoch(op.EndTimestamp), Status: string(op.Status),
	}
	if d := op.ExecutionDetails; d != nil {
		w.ExecutionDetails = &wireExecution{InputPayload: d.InputPayload}
	}
	if d := op.ContextDetails; d != nil {
		w.ContextDetails = &wireContext{ReplayChildren: d.ReplayChildren, Result: d.Result, Error: toWireError(d.Error)}
	}
	if d := op.StepDetails; d != nil {
		w.StepDetails = &wireStep{Attempt: d.Attempt, NextAttemptTimestamp: toEpoch(d.NextAttemptTimestamp), Result: d.Result, Error: toWireError(d.Error)}
		if future {
			w.StepDetails.Budget = &futureBudget{Left: int(d.Attempt)}
		}
	}
	if d := op.WaitDetails; d != nil {
		w.WaitDetails = &wireWait{ScheduledEndTimestamp: toEpoch(d.ScheduledEndTimestamp)}
	}
	if d := op.CallbackDetails; d != nil {
		w.CallbackDetails = &wireCallback{CallbackId: d.CallbackId, Result: d.Result, Error: toWireError(d.Error)}
	}
	if d := op.ChainedInvokeDetails; d != nil {
		w.ChainedInvokeDetails = &wireChained{Result: d.Result, Error: toWireError(d.Error)}
	}
	return w
}

// writePage writes the 200 body of one page to buf. Like the service, it
// leaves <, > and & unescaped in strings.
func writePage(buf *bytes.Buffer, ops []types.Operation, nextMarker string, future bool) error {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	buf.WriteString(`{"Operations":[`)
	for i := range ops {
		if i > 0 {
			buf.WriteByte(',')
		}
		if err := enc.Encode(toWire(&ops[i], future)); err != nil {
			return err
		}
	}
	buf.WriteByte(']')
	if nextMarker != "" {
		buf.WriteString(`,"NextMarker":`)
		if err := enc.Encode(nextMarker); err != nil {
			return err
		}
	}
	buf.WriteByte('}')
	return nil
}

// messageKey is the member that holds the message in each exception's body,
// as the service model names it.
var messageKey = map[string]string{
	"ResourceNotFoundException":      "Message",
	"ServiceException":               "Message",
	"InvalidParameterValueException": "message",
	"TooManyRequestsException":       "message",
}

// errorBody is an exception's JSON body: its type, its message, and the
// members given as name, value pairs (a TooManyRequestsException's
// Reason, say).
func errorBody(name, message string, members ...string) []byte {
	key := messageKey[name]
	if key == "" {
		key = "message"
	}
	body := map[string]string{"Type": errorFault(name), key: message}
	for i := 0; i+1 < len(members); i += 2 {
		body[members[i]] = members[i+1]
	}
	b, _ := json.Marshal(body)
	return b
}

func errorFault(name string) string {
	if name == "ServiceException" {
		return "Service"
	}
	return "User"
}
