package schema

import (
	"fmt"
	"reflect"
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
// column holds null there. It panics when T is not t's row struct.
func HasSinceValue[T any](t *Table, row *T) bool {
	rv := t.rowValue(row)
	for _, i := range t.since {
		if !rv.Field(i).IsNil() {
			return true
		}
	}
	return false
}

// ClearSince sets row's columns added since the first contract
// ([Column.Since]) to null: the row as an archive made before them holds
// it. It panics when T is not t's row struct.
func ClearSince[T any](t *Table, row *T) {
	rv := t.rowValue(row)
	for _, i := range t.since {
		rv.Field(i).SetZero()
	}
}

// LacksOnlySince reports that archived row got, which differs from want,
// would not if want held null in the columns added since the first
// contract ([Column.Since]): got was archived before them. skip as for
// DiffRow.
func LacksOnlySince[T any](t *Table, got, want *T, skip []bool) bool {
	if !HasSinceValue(t, want) {
		return false
	}
	w := *want
	ClearSince(t, &w)
	return DiffRow(t, got, &w, skip) < 0
}

// rowValue is row (a *T) as the reflect.Value of its struct.
func (t *Table) rowValue(row any) reflect.Value {
	rv := reflect.ValueOf(row).Elem()
	if rv.Type() != t.rowType {
		panic(fmt.Sprintf("schema: rows of %s are %s, not %s", t.Name, t.rowType, rv.Type()))
	}
	return rv
}
