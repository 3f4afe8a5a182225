package clip_test

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/durable-etl/durable-etl/internal/clip"
)

func TestString(t *testing.T) {
	if s := strings.Repeat("a", clip.Max); clip.String(s) != s {
		t.Error("a value of Max bytes was cut")
	}
	big := strings.Repeat("é", 3<<20) // 6 MiB, two bytes a rune
	got := clip.String(big)
	if len(got) > clip.Max+32 || !strings.HasSuffix(got, "…[6291456 bytes]") || !utf8.ValidString(got) {
		t.Errorf("clipped to %d bytes, ends %q, valid UTF-8 %v", len(got), got[len(got)-24:], utf8.ValidString(got))
	}
}

func TestReplaceAttr(t *testing.T) {
	var b bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&b, &slog.HandlerOptions{ReplaceAttr: clip.ReplaceAttr}))
	big := strings.Repeat("x", 5<<20)
	log.Info("m", "arn", big, "err", errors.New(big), slog.Group("g", "v", big))
	if b.Len() > 4*clip.Max || strings.Count(b.String(), "[5242880 bytes]") != 3 {
		t.Errorf("log line of %d bytes: %.300s", b.Len(), b.String())
	}
}
