package clip

import (
	"fmt"
	"log/slog"
	"unicode/utf8"
)

// Max is the most bytes of a value that a message shows. A real durable
// execution ARN is far shorter, so it is never cut.
const Max = 512

// String is s when it is at most Max bytes long; otherwise its first Max
// bytes (cut at a rune boundary) followed by "…[N bytes]", N being the
// length of s.
func String(s string) string {
	if len(s) <= Max {
		return s
	}
	n := Max
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return fmt.Sprintf("%s…[%d bytes]", s[:n], len(s))
}

// ReplaceAttr is a [slog.HandlerOptions.ReplaceAttr] that clips every
// string and error value of a log record.
func ReplaceAttr(_ []string, a slog.Attr) slog.Attr {
	switch a.Value.Kind() {
	case slog.KindString:
		if s := a.Value.String(); len(s) > Max {
			a.Value = slog.StringValue(String(s))
		}
	case slog.KindAny:
		switch v := a.Value.Any().(type) {
		case error:
			if s := v.Error(); len(s) > Max {
				a.Value = slog.StringValue(String(s))
			}
		case fmt.Stringer:
			if s := v.String(); len(s) > Max {
				a.Value = slog.StringValue(String(s))
			}
		}
	}
	return a
}
