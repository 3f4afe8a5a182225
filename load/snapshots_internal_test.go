package load

import (
	"fmt"
	"testing"
)

// TestStateInterner: states read from one file share their repeated
// values (one status, source, run id and retention for the many states
// that have them), and every state keeps its own values, absent ones
// absent.
func TestStateInterner(t *testing.T) {
	ptr := func(s string) *string { return &s }
	days := func(d int32) *int32 { return &d }
	flag := func(b bool) *bool { return &b }
	var states []ExecutionState
	for i := range 40 {
		st := ExecutionState{Arn: fmt.Sprint("arn-", i), Source: string([]byte("history")), RunID: fmt.Sprint("run-", i%2)}
		if i%5 > 0 {
			st.Status = ptr([]string{"SUCCEEDED", "RUNNING"}[i%2])
			st.RetentionDays = days(int32(7 + 23*(i%2)))
			st.DataIncluded = flag(i%3 > 0)
		}
		states = append(states, st)
	}
	want := make([]ExecutionState, len(states))
	for i, st := range states {
		w := st
		if st.Status != nil {
			w.Status, w.RetentionDays, w.DataIncluded = ptr(*st.Status), days(*st.RetentionDays), flag(*st.DataIncluded)
		}
		want[i] = w
	}
	var in stateInterner
	for i := range states {
		in.intern(&states[i])
	}
	statuses, retentions, flags := map[*string]bool{}, map[*int32]bool{}, map[*bool]bool{}
	for i, st := range states {
		w := want[i]
		if st.Arn != w.Arn || st.Source != w.Source || st.RunID != w.RunID || (st.Status == nil) != (w.Status == nil) {
			t.Fatalf("state %d: %+v, want %+v", i, st, w)
		}
		if st.Status == nil {
			if st.RetentionDays != nil || st.DataIncluded != nil {
				t.Errorf("state %d: absent values made present: %+v", i, st)
			}
			continue
		}
		if *st.Status != *w.Status || *st.RetentionDays != *w.RetentionDays || *st.DataIncluded != *w.DataIncluded {
			t.Errorf("state %d: %s %d %v, want %s %d %v", i, *st.Status, *st.RetentionDays, *st.DataIncluded, *w.Status, *w.RetentionDays, *w.DataIncluded)
		}
		statuses[st.Status], retentions[st.RetentionDays], flags[st.DataIncluded] = true, true, true
	}
	if len(statuses) != 2 || len(retentions) != 2 || len(flags) != 2 {
		t.Errorf("%d status, %d retention and %d flag values held for 2 each", len(statuses), len(retentions), len(flags))
	}
	if len(in.strs) != 3 {
		t.Errorf("%d strings held, want 3 (a source, two run ids)", len(in.strs))
	}
}
