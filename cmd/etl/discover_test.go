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
	// A number of days too large for a duration is refused, not wrapped
	// around into the future.
	for _, in := range []string{"yesterday", "2026-01-31T18:00:00", "2026-13-01", "-3d", "106752d", "99999999999999999999d"} {
		if _, err := parseWhen(in, now); err == nil || !strings.Contains(err.Error(), "a date (2026-01-31, UTC)") {
			t.Errorf("parseWhen(%q): error %v, want one naming the forms", in, err)
		}
	}
}

// TestParseSize: --target-file-size and the like take binary and decimal
// units or bytes; a size that does not fit in 64 bits is refused, not
// wrapped around.
func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"256MiB": 256 << 20, "1GiB": 1 << 30, "512 KiB": 512 << 10, "5GB": 5e9, "100": 100, "8589934591GiB": 8589934591 << 30,
	} {
		if got, err := parseSize(in); err != nil || got != want {
			t.Errorf("parseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "0", "-1MiB", "1.5GiB", "8589934592GiB", "9223372036854775808", "lots"} {
		if got, err := parseSize(in); err == nil {
			t.Errorf("parseSize(%q) = %d, want an error", in, got)
		}
	}
}
