package main

import (
	"strings"
	"testing"
	"time"
)

// TestParseWhen: --started-after and --started-before take an RFC 3339
// time, a date (its midnight in UTC, as the archive's dt), or a duration
// back from now; anything else is refused naming the forms.
func TestParseWhen(t *testing.T) {
	now := time.Date(2026, 12, 4, 10, 30, 0, 0, time.UTC)
	for in, want := range map[string]time.Time{
		"2026-01-31T18:00:00Z":      time.Date(2026, 1, 31, 18, 0, 0, 0, time.UTC),
		"2026-01-31T18:00:00+02:00": time.Date(2026, 1, 31, 16, 0, 0, 0, time.UTC),
		"2026-01-31":                time.Date(2026, 1, 31, 0, 0, 0, 0, time.UTC),
		"36h":                       now.Add(-36 * time.Hour),
		"7d":                        now.AddDate(0, 0, -7),
	} {
		got, err := parseWhen(in, now)
		if err != nil || got == nil || !got.Equal(want) {
			t.Errorf("parseWhen(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	if got, err := parseWhen("", now); got != nil || err != nil {
		t.Errorf(`parseWhen("") = %v, %v; want nil`, got, err)
	}
	for _, in := range []string{"yesterday", "2026-01-31T18:00:00", "2026-13-01", "-3d"} {
		if _, err := parseWhen(in, now); err == nil || !strings.Contains(err.Error(), "a date (2026-01-31, UTC)") {
			t.Errorf("parseWhen(%q): error %v, want one naming the forms", in, err)
		}
	}
}
