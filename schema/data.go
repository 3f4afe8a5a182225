package schema

import (
	"fmt"
	"reflect"
	"slices"
	"unsafe"
)

// DescribesRead reports the columns of t that say how a row was read
// rather than what it holds: run_id, extracted_at, source (state or
// history) and t's Order column (the row's place in the API's answer).
// Whether an outcome a read without the data left out is still the
// archived one is told by the other columns (see [DataOutcome]).
func (t *Table) DescribesRead(col string) bool {
	return col == "run_id" || col == "extracted_at" || col == "source" || col == t.Order
}

// StateColumn reports whether c tells what the row holds rather than its
// data or how it was read (neither data nor a column DescribesRead names):
// an outcome a read without the data left out is the archived one while
// every state column is as archived.
func (t *Table) StateColumn(c Column) bool { return c.Data == NotData && !t.DescribesRead(c.Name) }

// KeepData gives row, read without the execution's data, what archived
// (the same key's row of an earlier snapshot, read with it) holds of that
// data, as each column's [DataKind] says: an input row lacks is
// archived's; every outcome is archived's while every column that is
// neither data nor one DescribesRead names is as archived. It is the rule
// Postgres's upsert applies in SQL for a snapshot read without the data.
// It panics when T is not t's row struct.
func KeepData[T any](t *Table, row, archived *T) {
	if reflect.TypeFor[T]() != t.rowType {
		panic(fmt.Sprintf("schema: rows of %s are %s, not %s", t.Name, t.rowType, reflect.TypeFor[T]()))
	}
	same := DiffRow(t, row, archived, t.notState) < 0
	rv, av := reflect.ValueOf(row).Elem(), reflect.ValueOf(archived).Elem()
	for i, c := range t.Columns { // one column per field, in order
		switch {
		case c.Data == DataInput && rv.Field(i).IsZero():
			rv.Field(i).Set(av.Field(i))
		case c.Data == DataOutcome && same:
			rv.Field(i).Set(av.Field(i))
		}
	}
}

// HasSinceValue reports whether row has a value in a column of t added
// since the first contract ([Column.Since]): an archive made before that
// column holds null there. It reads the row by the field offsets declare
// took, without reflection (a run with --force asks it of every event).
// It panics when T is not t's row struct.
func HasSinceValue[T any](t *Table, row *T) bool {
	p := rowPointer(t, row)
	for _, i := range t.since {
		if f := t.codec.fields[i]; !f.null(unsafe.Add(p, f.off)) {
			return true
		}
	}
	return false
}

// ClearSince sets row's columns added since the first contract
// ([Column.Since]) to null: the row as an archive made before them holds
// it. It panics when T is not t's row struct.
func ClearSince[T any](t *Table, row *T) {
	p := rowPointer(t, row)
	for _, i := range t.since {
		f := t.codec.fields[i]
		f.setNull(unsafe.Add(p, f.off))
	}
}

// LackingSince compares archived row got with want as an archive made
// before the columns added since the first contract ([Column.Since])
// holds it: lacking names those in which got is null and want is not, and
// col is the first other column that differs (-1: none). skip as for
// DiffRow. It panics when T is not t's row struct.
func LackingSince[T any](t *Table, got, want *T, skip []bool) (lacking []string, col int) {
	skip = slices.Clone(skip)
	if skip == nil {
		skip = make([]bool, len(t.Columns))
	}
	g := rowPointer(t, got)
	for {
		col = DiffRow(t, got, want, skip)
		if col < 0 {
			return lacking, -1
		}
		if f := t.codec.fields[col]; t.Columns[col].Since == "" || !f.null(unsafe.Add(g, f.off)) {
			return lacking, col
		}
		lacking = append(lacking, t.Columns[col].Name)
		skip[col] = true
	}
}

// rowPointer is row as a pointer to t's row struct.
func rowPointer[T any](t *Table, row *T) unsafe.Pointer {
	if reflect.TypeFor[T]() != t.rowType {
		panic(fmt.Sprintf("schema: rows of %s are %s, not %s", t.Name, t.rowType, reflect.TypeFor[T]()))
	}
	return unsafe.Pointer(row)
}
