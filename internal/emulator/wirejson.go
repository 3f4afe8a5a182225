package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"
)

// writeWire writes v in the service's restJson1 form: exported members by
// their Go (API) names, absent ones (nil pointers, nil slices, empty enum
// strings) omitted and never null, timestamps as epoch seconds with the
// milliseconds as a fraction, strings with <, > and & unescaped. It covers
// the SDK's output shapes (pointers, strings, integers, booleans, times,
// string slices, nested structs and slices of structs). With future, it
// adds the members of futureMember, which the SDK does not know.
func writeWire(buf *bytes.Buffer, v reflect.Value, future bool) {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface:
		writeWire(buf, v.Elem(), future)
		return
	}
	if t, ok := v.Interface().(time.Time); ok {
		b, _ := epoch(t).MarshalJSON()
		buf.Write(b)
		return
	}
	switch v.Kind() {
	case reflect.Struct:
		buf.WriteByte('{')
		first := true
		for i := range v.NumField() {
			f := v.Type().Field(i)
			fv := v.Field(i)
			if !f.IsExported() || omitted(fv) {
				continue
			}
			if !first {
				buf.WriteByte(',')
			}
			first = false
			writeString(buf, f.Name)
			buf.WriteByte(':')
			writeWire(buf, fv, future)
		}
		if m := futureMember(v, future); m != "" {
			if !first {
				buf.WriteByte(',')
			}
			buf.WriteString(m)
		}
		buf.WriteByte('}')
	case reflect.Slice:
		buf.WriteByte('[')
		for i := range v.Len() {
			if i > 0 {
				buf.WriteByte(',')
			}
			writeWire(buf, v.Index(i), future)
		}
		buf.WriteByte(']')
	case reflect.String:
		writeString(buf, v.String())
	case reflect.Bool:
		buf.WriteString(strconv.FormatBool(v.Bool()))
	case reflect.Int, reflect.Int32, reflect.Int64:
		buf.WriteString(strconv.FormatInt(v.Int(), 10))
	default:
		panic("emulator: no wire form for " + v.Type().String())
	}
}

// futureMember is the member a service newer than the SDK would add to
// struct v (WithFutureMembers), as JSON text, or "": to every WaitStarted
// event a details object the SDK does not know, holding a token to be
// kept out of the archive; to every StepSucceededDetails a member; to
// GetDurableExecution's DurableConfig a member.
func futureMember(v reflect.Value, future bool) string {
	if !future {
		return ""
	}
	switch x := v.Interface().(type) {
	case types.Event:
		if x.EventType == types.EventTypeWaitStarted && x.EventId != nil {
			return fmt.Sprintf(`"FutureDetails":{"Note":"wait <%d> & more","CheckpointToken":"token-%d","Levels":[1,2.50]}`, *x.EventId, *x.EventId)
		}
	case types.StepSucceededDetails:
		return `"Cost":{"Units":3}`
	case types.DurableConfig:
		return `"ArchiveOnDelete":true`
	}
	return ""
}

func omitted(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Slice, reflect.Map:
		return v.IsNil()
	case reflect.String:
		return v.Len() == 0
	}
	return false
}

func writeString(buf *bytes.Buffer, s string) {
	enc := json.NewEncoder(buf)
	enc.SetEscapeHTML(false)
	enc.Encode(s)
	buf.Truncate(buf.Len() - 1) // Encode's newline
}
