package transform

import (
	"encoding/json"
	"strings"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/schema"
)

// WithUnknown is overflow_json s with the members the API sent that the
// SDK's model does not know (raw, a JSON object in decode.Unknown's
// canonical form) as its last member, "Unknown": s itself when raw is
// empty. The typed columns cannot hold such members and the SDK's types
// cannot either, so [ReconstructEvent] and [Reconstruct] leave
// them out; the archive keeps them all the same, for the day its reader
// knows them: `{"Unknown":{"FutureDetails":{"Note":"x"}}}`.
//
// Every overflow form writes its members in a fixed order with Unknown
// last, so the result is what encoding the overflow with Unknown set
// would give.
func WithUnknown(s *string, raw json.RawMessage) *string {
	if len(raw) == 0 {
		return s
	}
	var out string
	if s == nil || *s == "{}" {
		out = `{"Unknown":` + string(raw) + `}`
	} else {
		out = (*s)[:len(*s)-1] + `,"Unknown":` + string(raw) + `}`
	}
	return &out
}

// WithoutUnknown is overflow_json s without the Unknown member
// [WithUnknown] adds (nil when it was the only one), or s itself when it
// has none: what an archive made before etl kept the members its SDK
// does not know holds for the same read (the service sent them all the
// same; an etl run with --force archives such rows again). A string that
// is not such an overflow is returned as it is.
func WithoutUnknown(s *string) *string {
	// Most overflows hold no Unknown (verify asks this of every row it
	// streams): only those that may are parsed.
	if s == nil || !strings.Contains(*s, `"Unknown":`) {
		return s
	}
	var members map[string]json.RawMessage
	if json.Unmarshal([]byte(*s), &members) != nil {
		return s
	}
	raw, ok := members["Unknown"]
	if !ok {
		return s
	}
	last := `"Unknown":` + string(raw) + `}`
	switch {
	case *s == "{"+last:
		return nil
	case strings.HasSuffix(*s, ","+last):
		out := (*s)[:len(*s)-len(last)-1] + "}"
		return &out
	}
	return s
}

// AppendHistoryEvent is [AppendEventRow] of the page's event i, its
// overflow_json also keeping the members of it that the SDK's model does
// not know (p.Unknown, see [WithUnknown]).
func AppendHistoryEvent(rows []schema.Event, p *extract.HistoryPage, i int, key EventKey, meta RowMeta) []schema.Event {
	rows = AppendEventRow(rows, &p.Events[i], key, meta)
	if raw, ok := p.Unknown[i]; ok {
		row := &rows[len(rows)-1]
		row.OverflowJSON = WithUnknown(row.OverflowJSON, raw)
	}
	return rows
}
