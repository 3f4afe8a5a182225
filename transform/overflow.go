package transform

import (
	"encoding/json"
	"fmt"
	"reflect"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// Overflow is the content of the overflow_json column: the parts of an
// operation (or of an execution's error) that the typed columns cannot hold.
// It is null in the normal case. Its members use the API's own names, so
// that the JSON reads as a fragment of the operation it came from:
//
//	{"StepDetails":{"Error":{}}}                            an Error object with no members
//	{"CallbackDetails":{"Result":"x","Error":{"ErrorType":"T"}}}  a second details object's Result and Error
//	{"IdAbsent":true}                                       the operation had no Id (operation_id is "")
//	{"Error":{}}                                            (executions) the execution's Error had no members
//	{"PauseDetails":{}}                                     (executions) its PauseDetails had no members
//	{"Unknown":{"StepDetails":{"Cost":2}}}                   members the SDK's model does not know (see [WithUnknown])
//	{"SubMillis":{"StartTimestamp":277376}}                 a timestamp off the millisecond (see [SubMillis])
//	{"CallbackDetails":{"Error":{"ErrorType":"T\ufffd"}},"NotUTF8":{"CallbackDetails.Error.ErrorType":"VOA="}}
//	                                                        a string that is not UTF-8 (see [NotUTF8])
//
// A member is present exactly when the API sent it: an absent Result is
// left out, an empty one is "", and an empty StackTrace is [].
type Overflow struct {
	IdAbsent             bool         `json:",omitempty"`
	Error                *ErrorJSON   `json:",omitempty"`
	ContextDetails       *OutcomeJSON `json:",omitempty"`
	StepDetails          *OutcomeJSON `json:",omitempty"`
	CallbackDetails      *OutcomeJSON `json:",omitempty"`
	ChainedInvokeDetails *OutcomeJSON `json:",omitempty"`
	// PauseDetails (executions) is set when GetDurableExecution sent a
	// PauseDetails object with no members, which the pause_* columns
	// would read back as none.
	PauseDetails *struct{} `json:",omitempty"`
	// SubMillis (operations) is set when a timestamp the SDK handed over
	// is not a whole millisecond, which the timestamp columns hold.
	SubMillis *SubMillis `json:",omitempty"`
	// NotUTF8 has the bytes of the strings above that are not valid
	// UTF-8, which the JSON holds with U+FFFD in their place.
	NotUTF8 *NotUTF8 `json:",omitempty"`
}

// SubMillis are the nanoseconds past the millisecond (1 to 999,999) of the
// timestamps that are not whole milliseconds, by member: "StartTimestamp",
// "StepDetails.NextAttemptTimestamp" (operations), "EventTimestamp"
// (events). The timestamp columns hold milliseconds, and the service's
// times are whole milliseconds; but the SDK reads epoch seconds into int64
// nanoseconds, which a time before 1677 or after 2262 (milliseconds sent
// as seconds, say) wraps around into a time with nanoseconds of its own:
// kept here, the row still gives back exactly what the SDK handed over.
type SubMillis map[string]int32

// subMillis is t's nanoseconds past the millisecond (0 for a nil t).
func subMillis(t *time.Time) int32 {
	if t == nil {
		return 0
	}
	return int32(t.Nanosecond() % int(time.Millisecond))
}

// noteSubMillis records in *m t's nanoseconds past the millisecond under
// member, if any; *m is made on the first.
func noteSubMillis(m **SubMillis, member string, t *time.Time) {
	n := subMillis(t)
	if n == 0 {
		return
	}
	if *m == nil {
		*m = &SubMillis{}
	}
	(**m)[member] = n
}

// apply is t with the nanoseconds noted for member added back (t itself
// when none were, or t is nil).
func (m *SubMillis) apply(member string, t *time.Time) *time.Time {
	if m == nil || t == nil {
		return t
	}
	n, ok := (*m)[member]
	if !ok {
		return t
	}
	u := t.Add(time.Duration(n))
	return &u
}

// OutcomeJSON is the Result and Error of one details object.
type OutcomeJSON struct {
	Result *string    `json:",omitempty"`
	Error  *ErrorJSON `json:",omitempty"`
}

// ErrorJSON is an ErrorObject with its members present only when sent.
type ErrorJSON struct {
	ErrorType    *string   `json:",omitempty"`
	ErrorMessage *string   `json:",omitempty"`
	ErrorData    *string   `json:",omitempty"`
	StackTrace   *[]string `json:",omitempty"`
}

func errorJSON(e *types.ErrorObject) *ErrorJSON {
	if e == nil {
		return nil
	}
	j := &ErrorJSON{ErrorType: e.ErrorType, ErrorMessage: e.ErrorMessage, ErrorData: e.ErrorData}
	if e.StackTrace != nil {
		st := e.StackTrace
		j.StackTrace = &st
	}
	return j
}

func (j *ErrorJSON) object() *types.ErrorObject {
	if j == nil {
		return nil
	}
	e := &types.ErrorObject{ErrorType: j.ErrorType, ErrorMessage: j.ErrorMessage, ErrorData: j.ErrorData}
	if j.StackTrace != nil {
		e.StackTrace = *j.StackTrace
		if e.StackTrace == nil {
			e.StackTrace = []string{}
		}
	}
	return e
}

// emptyError reports an Error object that the error_* columns would read
// back as no error at all.
func emptyError(e *types.ErrorObject) bool {
	return e != nil && e.ErrorType == nil && e.ErrorMessage == nil && e.ErrorData == nil && e.StackTrace == nil
}

// slot is where an overflowing outcome of the given details kind goes.
func (o *Overflow) slot(kind string) **OutcomeJSON {
	switch kind {
	case KindContext:
		return &o.ContextDetails
	case KindStep:
		return &o.StepDetails
	case KindCallback:
		return &o.CallbackDetails
	case KindChainedInvoke:
		return &o.ChainedInvokeDetails
	}
	return nil
}

// encode is the overflow as compact JSON, or nil when it is empty. HTML
// characters are not escaped. A string that is not valid UTF-8 (the SDK
// hands over a body's bytes as they are) is written with U+FFFD, as
// encoding/json writes it, and its bytes under NotUTF8, so that the text
// gives back the same values.
func (o *Overflow) encode() *string {
	if *o == (Overflow{}) {
		return nil
	}
	b := marshal(o) // only strings, bools and slices of strings: cannot fail
	if mayHideBytes(b) {
		var m NotUTF8
		collectNotUTF8(&m, "", reflect.ValueOf(o).Elem())
		if m != nil {
			c := *o
			c.NotUTF8 = &m
			b = marshal(&c)
		}
	}
	s := string(b)
	return &s
}

// ParseOverflow decodes an overflow_json value; nil gives an empty Overflow.
// The strings NotUTF8 names are given their bytes back (and NotUTF8 is
// left nil).
func ParseOverflow(s *string) (Overflow, error) {
	var o Overflow
	if s == nil {
		return o, nil
	}
	if err := json.Unmarshal([]byte(*s), &o); err != nil {
		return o, fmt.Errorf("parse overflow_json: %w", err)
	}
	if o.NotUTF8 != nil {
		m := *o.NotUTF8
		o.NotUTF8 = nil
		if err := m.restore(reflect.ValueOf(&o).Elem()); err != nil {
			return o, fmt.Errorf("parse overflow_json: %w", err)
		}
	}
	return o, nil
}

// ExecutionError splits an execution's Error (GetDurableExecution) into the
// executions row's error columns and its overflow_json: an Error object with
// no members is {"Error":{}} there, so that it reads back as an empty error
// and not as none.
func ExecutionError(e *types.ErrorObject) (typ, msg, data *string, stack []string, overflow *string) {
	if e == nil {
		return nil, nil, nil, nil, nil
	}
	if emptyError(e) {
		return nil, nil, nil, nil, (&Overflow{Error: &ErrorJSON{}}).encode()
	}
	return e.ErrorType, e.ErrorMessage, e.ErrorData, e.StackTrace, nil
}

// ReconstructExecutionError is the inverse of [ExecutionError].
func ReconstructExecutionError(typ, msg, data *string, stack []string, overflow *string) (*types.ErrorObject, error) {
	o, err := ParseOverflow(overflow)
	if err != nil {
		return nil, err
	}
	if o.Error != nil {
		return o.Error.object(), nil
	}
	if typ == nil && msg == nil && data == nil && stack == nil {
		return nil, nil
	}
	return &types.ErrorObject{ErrorType: typ, ErrorMessage: msg, ErrorData: data, StackTrace: stack}, nil
}
