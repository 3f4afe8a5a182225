package transform

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"math"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/schema"
)

// eventOverflow is the events table's overflow_json: every details object of
// an event whose details the typed columns cannot hold, keyed by its API
// member name (StepFailedDetails, ...), in encoding/json's form of the SDK
// type (members by their API names, timestamps as RFC 3339); or, when the
// columns hold all but an empty Input, Result or Error, that member alone
// under its details object's name.
type eventOverflow struct {
	EventIdAbsent bool                       `json:",omitempty"`
	EventId       *int32                     `json:",omitempty"` // the event's own, when event_id is not it (see EventKeys)
	Details       map[string]json.RawMessage `json:",omitempty"`
	// FarTimes are the details' timestamps RFC 3339 cannot write (a year
	// before 0 or after 9999: the SDK takes any epoch seconds), by
	// "StepFailedDetails.Member"; Details has them null.
	FarTimes map[string]farTime `json:",omitempty"`
	// SubMillis has the nanoseconds past the millisecond of an
	// EventTimestamp that is not a whole millisecond (see [SubMillis]); a
	// details object's such timestamp sends the object to Details whole.
	SubMillis *SubMillis `json:",omitempty"`
	// NotUTF8 has the bytes of Details' strings that are not valid
	// UTF-8 (see [NotUTF8]), by "StepFailedDetails.Member...".
	NotUTF8 NotUTF8 `json:",omitempty"`
	// Unknown are the event's members that the SDK's model does not know,
	// always the last member: written by [WithUnknown], read here only to
	// be kept (NormalizeEventOverflow).
	Unknown json.RawMessage `json:",omitempty"`
}

// farTime is a timestamp as Unix seconds and nanoseconds.
type farTime struct {
	Sec  int64
	Nsec int
}

// detailsMember is one of types.Event's *...Details fields: its index, the
// event type it is named after, and its detail_kind.
type detailsMember struct {
	index     int
	offset    uintptr // of the pointer in types.Event
	name      string  // StepFailedDetails
	eventType string  // StepFailed
	kind      string  // step_failed
	// data are the indexes, in the details struct, of its Input, Result,
	// Error and Reason members: what a read without the execution's data
	// leaves out (EventCarriesData).
	data []int
	// members are the details struct's exported fields, for fillEvent:
	// a reflect.StructField made for each member of each event cost a
	// fifth of the row's mapping.
	members []structMember
	// emptyOverflow is the overflow_json of an event of this details
	// object whose only odd member is an empty one, by fillEvent's empty
	// (`"Error":{}`, ...): one string shared by every such row (rows are
	// never changed in place), not one made a row.
	emptyOverflow map[string]*string
}

// structMember is an exported field of a struct type: its index and name.
type structMember struct {
	index int
	name  string
}

// detailsFields are types.Event's *...Details fields, worked out once.
var detailsFields = func() []detailsMember {
	var out []detailsMember
	rt := reflect.TypeFor[types.Event]()
	for i := range rt.NumField() {
		f := rt.Field(i)
		if f.IsExported() && strings.HasSuffix(f.Name, "Details") && f.Type.Kind() == reflect.Pointer {
			m := detailsMember{index: i, offset: f.Offset, name: f.Name, eventType: strings.TrimSuffix(f.Name, "Details"), kind: detailKind(f.Name),
				emptyOverflow: map[string]*string{}}
			for j := range f.Type.Elem().NumField() {
				df := f.Type.Elem().Field(j)
				if df.IsExported() {
					m.members = append(m.members, structMember{j, df.Name})
				}
				switch df.Type {
				case reflect.TypeFor[*types.EventInput](), reflect.TypeFor[*types.EventResult](), reflect.TypeFor[*types.EventError](),
					reflect.TypeFor[*types.EventPauseReason](), reflect.TypeFor[*types.EventResumeReason]():
					m.data = append(m.data, j)
				}
			}
			for _, empty := range []string{emptyMember("Input", false), emptyMember("Result", false), emptyMember("Error", false), emptyMember("Error", true), emptyMember("Reason", false)} {
				o := emptyOverflow(f.Name, empty)
				m.emptyOverflow[empty] = &o
			}
			out = append(out, m)
		}
	}
	return out
}()

// EventCarriesData reports whether ev has an Input, a Result, an Error or
// a Reason (its payload, or the Truncated flag that stands for it): what a read
// without the execution's data (IncludeExecutionData false) leaves out.
// An event without any is the same whichever way it was read.
func EventCarriesData(ev *types.Event) bool {
	var buf [4]*detailsMember
	present := presentDetails(ev, buf[:0])
	if len(present) == 0 {
		return false
	}
	v := reflect.ValueOf(ev).Elem()
	for _, m := range present {
		d := v.Field(m.index).Elem()
		for _, j := range m.data {
			if !d.Field(j).IsNil() {
				return true
			}
		}
	}
	return false
}

// presentDetails appends to present the details objects ev carries, in
// types.Event's order.
func presentDetails(ev *types.Event, present []*detailsMember) []*detailsMember {
	for i := range detailsFields { // the pointers read in place: a reflect.Value each cost more than the rest of the row
		if *(*unsafe.Pointer)(unsafe.Add(unsafe.Pointer(ev), detailsFields[i].offset)) != nil {
			present = append(present, &detailsFields[i])
		}
	}
	return present
}

// EventKey is an event's key in its history: its event_id and its
// position (1-based) in the history.
type EventKey struct {
	ID  int32
	Pos int64
}

// EventKeys gives the events of one history, read in order, keys of their
// own: an event's event_id is its EventId when that is positive and no
// earlier event of the history had it (the service numbers events from 1,
// one by one), else minus its position in the history, which no such
// EventId can be; overflow_json then keeps the EventId (or says there was
// none). A history read again from its start gets the same keys, so an
// event archived once keeps its key across runs. The zero value is ready
// to use; it remembers the EventIds seen (a bit each up to 16 million).
type EventKeys struct {
	pos  int64
	seen []uint64       // EventIds below denseIDs, a bit each
	far  map[int32]bool // the others
}

const denseIDs = 1 << 24

// Next is the key of the history's next event.
func (k *EventKeys) Next(ev *types.Event) EventKey {
	k.pos++
	key := EventKey{ID: AbsentEventID(k.pos), Pos: k.pos}
	if ev.EventId == nil || *ev.EventId <= 0 {
		return key
	}
	id := *ev.EventId
	if id < denseIDs {
		w := int(id / 64)
		if w >= len(k.seen) {
			k.seen = append(k.seen, make([]uint64, w+1-len(k.seen))...)
		}
		if k.seen[w]&(1<<(id%64)) != 0 {
			return key
		}
		k.seen[w] |= 1 << (id % 64)
	} else {
		if k.far[id] {
			return key
		}
		if k.far == nil {
			k.far = map[int32]bool{}
		}
		k.far[id] = true
	}
	key.ID = id
	return key
}

// EventRow maps one history event to its row, under the key [EventKeys]
// gave it. Every event the SDK can hand over maps to a row that
// [ReconstructEvent] turns back into the same event: one details object
// fills the typed columns; when there are several, or one holds what the
// columns cannot hold (a member this version does not know), every details
// object also goes to overflow_json, whole, as does an EventId that is not
// the row's event_id. An Input, Result or Error object with no members (or
// an Error whose Payload has none), which the columns read back as absent,
// goes there alone: {"Details":{"InvocationCompletedDetails":{"Error":{}}}}.
func EventRow(ev *types.Event, key EventKey, meta RowMeta) schema.Event {
	return AppendEventRow(nil, ev, key, meta)[0]
}

// AppendEventRow appends [EventRow]'s row to rows and returns the longer
// slice: the row is made in place, where EventRow's escapes to the heap
// (the details are mapped by reflection) and is copied once more.
func AppendEventRow(rows []schema.Event, ev *types.Event, key EventKey, meta RowMeta) []schema.Event {
	rows = append(rows, schema.Event{})
	row := &rows[len(rows)-1]
	*row = schema.Event{
		ExecutionArn: meta.ExecutionArn,
		EventID:      key.ID,
		EventType:    string(ev.EventType),
		EventTime:    millis(ev.EventTimestamp),
		OperationID:  ev.Id,
		ParentID:     ev.ParentId,
		Name:         ev.Name,
		SubType:      ev.SubType,
		RunID:        meta.RunID,
		ExtractedAt:  meta.ExtractedAt.UTC().Truncate(time.Millisecond),
	}
	v := reflect.ValueOf(ev).Elem()
	var buf [4]*detailsMember
	present := presentDetails(ev, buf[:0])
	// The details object named after the event type fills the columns, else
	// the first one.
	for j, m := range present {
		if m.eventType == string(ev.EventType) {
			present[0], present[j] = present[j], present[0]
			break
		}
	}
	fits := len(present) <= 1
	var empty string // a member the columns read back as absent (see fillEvent)
	if len(present) > 0 {
		row.DetailKind = &present[0].kind // shared: rows are never changed in place
		if len(present) > 1 {
			k := present[0].kind
			for _, m := range present[1:] {
				k += "," + m.kind
			}
			row.DetailKind = &k
		}
		ok, e := fillEvent(row, v.Field(present[0].index).Elem(), present[0].members)
		fits = fits && ok
		empty = e
	}
	idAside := ev.EventId != nil && *ev.EventId != key.ID
	exact := ev.EventId != nil && !idAside && subMillis(ev.EventTimestamp) == 0
	switch {
	case exact && fits && empty == "":
		// The usual case: nothing overflows.
	case exact && fits:
		// Some producers send InvocationCompleted with "Error":{} on every
		// invocation: the member alone, not the whole details object,
		// which costs six times the rest of the row to encode and store.
		if p, ok := present[0].emptyOverflow[empty]; ok {
			row.OverflowJSON = p
		} else { // an empty Error whose Truncated is set
			o := emptyOverflow(present[0].name, empty)
			row.OverflowJSON = &o
		}
	default:
		o := eventOverflow{EventIdAbsent: ev.EventId == nil}
		if idAside {
			o.EventId = ev.EventId
		}
		noteSubMillis(&o.SubMillis, "EventTimestamp", ev.EventTimestamp) // never from the service: see SubMillis
		switch {
		case !fits:
			o.Details = map[string]json.RawMessage{}
			for _, m := range present {
				raw := o.marshalDetails(m.name, v.Field(m.index))
				if mayHideBytes(raw) {
					collectNotUTF8(&o.NotUTF8, m.name, v.Field(m.index))
				}
				o.Details[m.name] = raw
			}
		case empty != "":
			o.Details = map[string]json.RawMessage{present[0].name: json.RawMessage("{" + empty + "}")}
		}
		s := o.encode()
		row.OverflowJSON = &s
	}
	return rows
}

// encode is o as encoding/json writes it (marshal), byte for byte, without
// its reflection and its second pass over each details object (an
// InvocationCompleted event with an empty Error, which some producers
// write on every invocation, took 4.4 us instead of 0.5).
func (o *eventOverflow) encode() string {
	if o.FarTimes != nil || o.SubMillis != nil || o.NotUTF8 != nil { // rare: see marshalDetails, SubMillis, NotUTF8
		return string(marshal(o))
	}
	b := make([]byte, 0, 64+len(o.Details)*256)
	b = append(b, '{')
	if o.EventIdAbsent {
		b = append(b, `"EventIdAbsent":true`...)
	}
	if o.EventId != nil {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(append(b, `"EventId":`...), int64(*o.EventId), 10)
	}
	if len(o.Details) > 0 {
		if len(b) > 1 {
			b = append(b, ',')
		}
		b = append(b, `"Details":{`...)
		for i, name := range slices.Sorted(maps.Keys(o.Details)) { // names are Go identifiers: nothing to escape
			if i > 0 {
				b = append(b, ',')
			}
			b = append(append(append(b, '"'), name...), `":`...)
			b = append(b, o.Details[name]...)
		}
		b = append(b, '}')
	}
	return string(append(b, '}'))
}

// AbsentEventID is the event_id of the pos'th event (1-based) of a history
// whose EventId is absent, not positive, or an earlier event's: minus its
// position, which no event the service numbers can have.
func AbsentEventID(pos int64) int32 {
	return int32(-min(max(pos, 1), math.MaxInt32))
}

func marshal(x any) json.RawMessage {
	b, err := tryMarshal(x)
	if err != nil {
		panic(fmt.Sprintf("transform: encoding %T cannot fail: %v", x, err))
	}
	return b
}

func tryMarshal(x any) (json.RawMessage, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(x); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}

// marshalDetails is details object d (a pointer) as JSON. A timestamp
// member RFC 3339 cannot write goes to o.FarTimes, and null in its place:
// encoding/json fails on it. (Today's SDK cannot hand one over: it wraps
// epoch seconds into int64 nanoseconds. A Go caller can.)
func (o *eventOverflow) marshalDetails(name string, d reflect.Value) json.RawMessage {
	if b, err := tryMarshal(d.Interface()); err == nil {
		return b
	}
	c := reflect.New(d.Type().Elem()) // a copy, the far timestamps left out
	c.Elem().Set(d.Elem())
	for i := range c.Elem().NumField() {
		sf, f := c.Elem().Type().Field(i), c.Elem().Field(i)
		if !sf.IsExported() {
			continue
		}
		if t, ok := f.Interface().(*time.Time); ok && t != nil && (t.Year() < 0 || t.Year() > 9999) {
			if o.FarTimes == nil {
				o.FarTimes = map[string]farTime{}
			}
			o.FarTimes[name+"."+sf.Name] = farTime{Sec: t.Unix(), Nsec: t.Nanosecond()}
			f.Set(reflect.Zero(f.Type()))
		}
	}
	return marshal(c.Interface())
}

// detailKind is a details member's name in snake_case without Details:
// StepFailedDetails is step_failed.
func detailKind(field string) string {
	name := strings.TrimSuffix(field, "Details")
	var b strings.Builder
	for i, r := range name {
		if unicode.IsUpper(r) {
			if i > 0 {
				b.WriteByte('_')
			}
			r = unicode.ToLower(r)
		}
		b.WriteRune(r)
	}
	return b.String()
}

// detailsField is the inverse of detailKind.
func detailsField(kind string) string {
	var b strings.Builder
	for _, part := range strings.Split(kind, "_") {
		if part != "" {
			b.WriteString(strings.ToUpper(part[:1]) + part[1:])
		}
	}
	return b.String() + "Details"
}

// fillEvent copies the members of one details object (a struct value) into
// the row's columns. It reports false when the columns cannot give the
// object back exactly. When they can but for an Input, Result or Error
// with no members (or an Error whose Payload has none), which the columns
// read back as absent, empty is that member, whole, as a JSON object
// member (`"Error":{}`, `"Error":{"Payload":{}}`) and ok is true.
// members are d's exported fields (detailsMember.members).
func fillEvent(row *schema.Event, d reflect.Value, members []structMember) (ok bool, empty string) {
	ok = true
	truncated := func(p *bool) {
		if row.PayloadTruncated != nil {
			ok = false // two members share the column
		}
		row.PayloadTruncated = p
	}
	for _, f := range members {
		i := f.index
		x := d.Field(i).Interface()
		switch m := x.(type) {
		case *types.EventInput:
			if m != nil {
				if m.Payload == nil && m.Truncated == nil {
					empty = emptyMember(f.name, false)
				}
				row.InputPayload = m.Payload
				truncated(m.Truncated)
			}
		case *types.EventResult:
			if m != nil {
				if m.Payload == nil && m.Truncated == nil {
					empty = emptyMember(f.name, false)
				}
				row.Result = m.Payload
				truncated(m.Truncated)
			}
		case *types.EventError:
			if m != nil {
				switch {
				case m.Payload == nil && m.Truncated == nil:
					empty = emptyMember(f.name, false)
				case emptyError(m.Payload) && m.Truncated == nil:
					empty = emptyMember(f.name, true)
				case emptyError(m.Payload): // rare enough to spell out
					empty = `"` + f.name + `":{"Payload":{},"Truncated":` + strconv.FormatBool(*m.Truncated) + `}`
				}
				if p := m.Payload; p != nil {
					row.ErrorType, row.ErrorMessage, row.ErrorData, row.ErrorStackTrace = p.ErrorType, p.ErrorMessage, p.ErrorData, p.StackTrace
				}
				truncated(m.Truncated)
			}
		case *types.RetryDetails:
			if m != nil {
				row.Attempt, row.NextAttemptDelaySeconds = sharedAttempt(m.CurrentAttempt), m.NextAttemptDelaySeconds
			}
		case *types.EventPauseReason:
			if m != nil {
				empty = reason(row, f.name, m.Payload, m.Truncated, empty, truncated)
			}
		case *types.EventResumeReason:
			if m != nil {
				empty = reason(row, f.name, m.Payload, m.Truncated, empty, truncated)
			}
		default:
			dst := eventColumn(row, f.name)
			if !dst.IsValid() {
				if !d.Field(i).IsZero() {
					ok = false // a member this version does not know
				}
				continue
			}
			if t, isTime := x.(*time.Time); isTime {
				if subMillis(t) != 0 {
					ok = false // the whole object to overflow_json, which keeps the nanoseconds
				}
				x = millis(t)
			}
			if reflect.TypeOf(x) != dst.Type() {
				ok = false
				continue
			}
			dst.Set(reflect.ValueOf(x))
		}
	}
	return ok, empty
}

// reason fills the columns of a pause's or a resume's Reason (member name),
// and is fillEvent's empty for it: the member when it has neither Payload
// nor Truncated, else empty as it was.
func reason(row *schema.Event, name string, payload *string, trunc *bool, empty string, truncated func(*bool)) string {
	if payload == nil && trunc == nil {
		empty = emptyMember(name, false)
	}
	row.Reason = payload
	truncated(trunc)
	return empty
}

// emptyOverflow is the overflow_json of an event whose details object
// (named) has only member empty (see fillEvent) the columns cannot hold.
func emptyOverflow(details, empty string) string {
	return `{"Details":{"` + details + `":{` + empty + `}}}`
}

// emptyMember is member name as a JSON object member holding an empty
// object, or with payload an object whose Payload is empty.
func emptyMember(name string, payload bool) string {
	switch {
	case name == "Error" && payload:
		return `"Error":{"Payload":{}}`
	case name == "Error":
		return `"Error":{}`
	case name == "Input":
		return `"Input":{}`
	case name == "Result":
		return `"Result":{}`
	case name == "Reason":
		return `"Reason":{}`
	case payload:
		return `"` + name + `":{"Payload":{}}`
	}
	return `"` + name + `":{}`
}

// eventColumn is the column a plain details member fills, or an invalid
// Value for a member with no column. (A Value, not a pointer to one: that
// cost an allocation a member.)
func eventColumn(row *schema.Event, member string) reflect.Value {
	var p any
	switch member {
	case "Duration":
		p = &row.DurationSeconds
	case "ScheduledEndTimestamp":
		p = &row.ScheduledEndTime
	case "CallbackId":
		p = &row.CallbackID
	case "Timeout":
		p = &row.TimeoutSeconds
	case "HeartbeatTimeout":
		p = &row.HeartbeatTimeoutSeconds
	case "ExecutionTimeout":
		p = &row.ExecutionTimeoutSeconds
	case "FunctionName":
		p = &row.InvokedFunctionName
	case "DurableExecutionArn":
		p = &row.InvokedExecutionArn
	case "ExecutedVersion":
		p = &row.ExecutedVersion
	case "TenantId":
		p = &row.TenantID
	case "RequestId":
		p = &row.RequestID
	case "StartTimestamp":
		p = &row.InvocationStartTime
	case "EndTimestamp":
		p = &row.InvocationEndTime
	case "PauseRequestTimestamp", "ResumeRequestTimestamp":
		p = &row.RequestTime
	case "ExecutionTimeoutPaused":
		p = &row.ExecutionTimeoutPaused
	default:
		return reflect.Value{}
	}
	return reflect.ValueOf(p).Elem()
}

// ReconstructEvent is the inverse of [EventRow]: the event a row was made
// from. It fails only on an overflow_json or detail_kind it cannot read.
func ReconstructEvent(row *schema.Event) (types.Event, error) {
	ev := types.Event{
		EventType:      types.EventType(row.EventType),
		EventTimestamp: row.EventTime,
		Id:             row.OperationID,
		ParentId:       row.ParentID,
		Name:           row.Name,
		SubType:        row.SubType,
	}
	id := row.EventID
	ev.EventId = &id
	var o eventOverflow
	if row.OverflowJSON != nil {
		if err := json.Unmarshal([]byte(*row.OverflowJSON), &o); err != nil {
			return ev, fmt.Errorf("event %d: parse overflow_json: %w", row.EventID, err)
		}
	}
	if o.EventIdAbsent {
		ev.EventId = nil
	} else if o.EventId != nil {
		ev.EventId = o.EventId
	}
	ev.EventTimestamp = o.SubMillis.apply("EventTimestamp", ev.EventTimestamp)
	v := reflect.ValueOf(&ev).Elem()
	// The details object the columns hold, then overflow_json's objects:
	// each member one names replaces the columns' (a whole object names
	// every member, absent ones null; one that only says what the columns
	// cannot, such as an empty Error, names that member alone: archives
	// written before December 2026 hold the whole object there too).
	if row.DetailKind != nil && !strings.Contains(*row.DetailKind, ",") {
		f, ok := detailsValue(v, detailsField(*row.DetailKind))
		if !ok {
			return ev, fmt.Errorf("event %d: detail_kind %q names no details object this version knows", row.EventID, *row.DetailKind)
		}
		d := reflect.New(f.Type().Elem())
		unfillEvent(row, d.Elem())
		f.Set(d)
	}
	for name, raw := range o.Details {
		f, ok := detailsValue(v, name)
		if !ok {
			return ev, fmt.Errorf("event %d: overflow_json names %q, which this version does not know", row.EventID, name)
		}
		p := reflect.New(f.Type().Elem())
		if err := json.Unmarshal(raw, p.Interface()); err != nil {
			return ev, fmt.Errorf("event %d: overflow_json %s: %w", row.EventID, name, err)
		}
		if f.IsNil() {
			f.Set(p)
			continue
		}
		var members map[string]json.RawMessage // decoded into a fresh object: the columns' pointers are the row's
		if err := json.Unmarshal(raw, &members); err != nil {
			return ev, fmt.Errorf("event %d: overflow_json %s: %w", row.EventID, name, err)
		}
		for m := range members {
			if dst := f.Elem().FieldByName(m); dst.IsValid() && dst.CanSet() {
				dst.Set(p.Elem().FieldByName(m))
			}
		}
	}
	for key, ft := range o.FarTimes {
		name, member, _ := strings.Cut(key, ".")
		d, ok := detailsValue(v, name)
		var m reflect.Value
		if ok && !d.IsNil() {
			m = d.Elem().FieldByName(member)
		}
		if !m.IsValid() || m.Type() != reflect.TypeFor[*time.Time]() {
			return ev, fmt.Errorf("event %d: overflow_json has a timestamp for %s, which this version does not know", row.EventID, key)
		}
		t := time.Unix(ft.Sec, int64(ft.Nsec)).UTC()
		m.Set(reflect.ValueOf(&t))
	}
	if err := o.NotUTF8.restore(v); err != nil {
		return ev, fmt.Errorf("event %d: overflow_json: %w", row.EventID, err)
	}
	return ev, nil
}

// detailsValue is ev's (a types.Event's) details object of that member
// name (StepFailedDetails); ok is false for a name that is none, such as
// another member's (EventId) or one this version does not know.
func detailsValue(ev reflect.Value, name string) (f reflect.Value, ok bool) {
	for i := range detailsFields {
		if detailsFields[i].name == name {
			return ev.Field(detailsFields[i].index), true
		}
	}
	return reflect.Value{}, false
}

// NormalizeEventOverflow puts an archived row's overflow_json in the form
// [EventRow] writes today, so that a row archived before a form changed
// (an empty Error's whole details object, before December 2026) compares
// equal to today's row of the same event, as etl verify compares them. A
// row whose overflow_json cannot be read is left as it is.
func NormalizeEventOverflow(row *schema.Event) {
	if row.OverflowJSON == nil || !strings.Contains(*row.OverflowJSON, `"Details"`) {
		return
	}
	ev, err := ReconstructEvent(row)
	if err != nil {
		return
	}
	now := EventRow(&ev, EventKey{ID: row.EventID}, RowMeta{}).OverflowJSON
	var o eventOverflow
	if json.Unmarshal([]byte(*row.OverflowJSON), &o) == nil && o.Unknown != nil {
		now = WithUnknown(now, o.Unknown)
	}
	if now == nil || *now != *row.OverflowJSON {
		row.OverflowJSON = now
	}
}

// unfillEvent sets the members of details object d from the row's columns.
func unfillEvent(row *schema.Event, d reflect.Value) {
	for i := range d.NumField() {
		f := d.Type().Field(i)
		if !f.IsExported() {
			continue
		}
		dst := d.Field(i)
		switch dst.Interface().(type) {
		case *types.EventInput:
			if row.InputPayload != nil || row.PayloadTruncated != nil {
				dst.Set(reflect.ValueOf(&types.EventInput{Payload: row.InputPayload, Truncated: row.PayloadTruncated}))
			}
		case *types.EventResult:
			if row.Result != nil || row.PayloadTruncated != nil {
				dst.Set(reflect.ValueOf(&types.EventResult{Payload: row.Result, Truncated: row.PayloadTruncated}))
			}
		case *types.EventError:
			e := &types.EventError{Truncated: row.PayloadTruncated}
			if row.ErrorType != nil || row.ErrorMessage != nil || row.ErrorData != nil || row.ErrorStackTrace != nil {
				e.Payload = &types.ErrorObject{ErrorType: row.ErrorType, ErrorMessage: row.ErrorMessage, ErrorData: row.ErrorData, StackTrace: row.ErrorStackTrace}
			}
			if e.Payload != nil || e.Truncated != nil {
				dst.Set(reflect.ValueOf(e))
			}
		case *types.RetryDetails:
			if row.Attempt != nil {
				dst.Set(reflect.ValueOf(&types.RetryDetails{CurrentAttempt: *row.Attempt, NextAttemptDelaySeconds: row.NextAttemptDelaySeconds}))
			}
		case *types.EventPauseReason:
			if row.Reason != nil || row.PayloadTruncated != nil {
				dst.Set(reflect.ValueOf(&types.EventPauseReason{Payload: row.Reason, Truncated: row.PayloadTruncated}))
			}
		case *types.EventResumeReason:
			if row.Reason != nil || row.PayloadTruncated != nil {
				dst.Set(reflect.ValueOf(&types.EventResumeReason{Payload: row.Reason, Truncated: row.PayloadTruncated}))
			}
		default:
			if src := eventColumn(row, f.Name); src.IsValid() && src.Type() == dst.Type() {
				dst.Set(src)
			}
		}
	}
}
