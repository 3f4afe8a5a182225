package transform

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"hash"
	"math"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/lambda/types"

	"github.com/durable-etl/durable-etl/extract"
	"github.com/durable-etl/durable-etl/schema"
)

// Snapshot accumulates one execution's snapshot, page by page. It holds
// only the summary (counts, the running hash, the EXECUTION operation's
// fields), never the operations themselves. It is not safe for concurrent
// use.
type Snapshot struct {
	meta      RowMeta
	seq       int64
	failed    int64
	exec      *types.Operation // the first EXECUTION operation seen
	execInput *string
	earliest  *time.Time
	hash      hash.Hash
	overflow  hash.Hash // nil until a row has an overflow_json
	buf       []byte
}

// NewSnapshot starts the snapshot of one execution.
func NewSnapshot(meta RowMeta) *Snapshot {
	return &Snapshot{meta: meta, hash: sha256.New()}
}

// Add maps one page's operations to rows, appending them to dst (which may be
// nil) and returning the extended slice. It cannot fail: every operation the
// SDK hands over has a row (see [OperationRow]).
func (s *Snapshot) Add(dst []schema.Operation, ops []types.Operation) []schema.Operation {
	for i := range ops {
		dst = s.add(dst, &ops[i], false, nil)
	}
	return dst
}

// AddPage is [Snapshot.Add] of a page's operations, each row's
// overflow_json also keeping the members of its operation that the SDK's
// model does not know (p.Unknown, see [WithUnknown]).
func (s *Snapshot) AddPage(dst []schema.Operation, p extract.Page) []schema.Operation {
	for i := range p.Operations {
		dst = s.add(dst, &p.Operations[i], false, p.Unknown[i])
	}
	return dst
}

// add maps one operation; attemptUnknown leaves attempt null (history
// cannot tell a step's attempt before its first RetryDetails), and unknown
// (when not empty) goes to its overflow_json.
func (s *Snapshot) add(dst []schema.Operation, op *types.Operation, attemptUnknown bool, unknown json.RawMessage) []schema.Operation {
	dst = appendOperationRow(dst, op, s.seq, s.meta)
	row := &dst[len(dst)-1]
	if attemptUnknown {
		row.Attempt = nil
	}
	if unknown != nil {
		row.OverflowJSON = WithUnknown(row.OverflowJSON, unknown)
	}
	s.seq++
	if row.Status == string(types.OperationStatusFailed) || row.Status == string(types.OperationStatusTimedOut) {
		s.failed++
	}
	if s.exec == nil && op.Type == types.OperationTypeExecution {
		e := *op
		e.ExecutionDetails, e.ContextDetails, e.StepDetails, e.WaitDetails, e.CallbackDetails, e.ChainedInvokeDetails = nil, nil, nil, nil, nil, nil
		s.exec = &e
		s.execInput = row.InputPayload
	}
	if row.StartTime != nil && (s.earliest == nil || row.StartTime.Before(*s.earliest)) {
		s.earliest = row.StartTime
	}
	s.hashRow(row)
	return dst
}

// Partition is the snapshot's dt so far: the UTC date of the EXECUTION
// operation's start, failing that of the earliest operation start, failing
// that of runDate. ok is false while the answer could still change, that
// is, until an EXECUTION operation with a start time has been seen.
func (s *Snapshot) Partition(runDate time.Time) (dt string, ok bool) {
	switch {
	case s.exec != nil && s.exec.StartTimestamp != nil:
		return s.exec.StartTimestamp.UTC().Format(time.DateOnly), true
	case s.earliest != nil:
		return s.earliest.UTC().Format(time.DateOnly), false
	default:
		return runDate.UTC().Format(time.DateOnly), false
	}
}

// Finish returns the executions row for everything added.
func (s *Snapshot) Finish() schema.Execution {
	row := schema.Execution{
		ExecutionArn:         s.meta.ExecutionArn,
		OperationCount:       s.seq,
		FailedOperationCount: s.failed,
		ContentHash:          s.contentHash(),
		Source:               s.meta.source(),
		RunID:                s.meta.RunID,
		ExtractedAt:          s.meta.ExtractedAt.UTC().Truncate(time.Millisecond),
	}
	if a, ok := extract.ParseARN(s.meta.ExecutionArn); ok {
		row.Region, row.AccountID, row.FunctionName = &a.Region, &a.AccountID, &a.FunctionName
		row.FunctionQualifier, row.ExecutionName, row.ExecutionID = &a.FunctionQualifier, &a.ExecutionName, &a.ExecutionID
	}
	if e := s.exec; e != nil {
		status := string(e.Status)
		row.Status = &status
		row.StartTime, row.EndTime = millis(e.StartTimestamp), millis(e.EndTimestamp)
		row.InputPayload = s.execInput
	}
	return row
}

// ContentHash is the content_hash of a snapshot made of rows, in their
// order: what [Snapshot.Finish] reports for the operations that gave them.
// Verification recomputes it from archived rows.
func ContentHash(rows []schema.Operation) string {
	s := NewSnapshot(RowMeta{})
	for i := range rows {
		s.hashRow(&rows[i])
	}
	return s.contentHash()
}

// contentHash is the hex SHA-256 of the rows' canonical encoding. When some
// row had an overflow_json, the result is instead the SHA-256 of that hash
// followed by the hash of the overflows (each row's seq and overflow), so
// that the hashes of snapshots without overflow stay what they were before
// the column existed.
func (s *Snapshot) contentHash() string {
	sum := s.hash.Sum(nil)
	if s.overflow != nil {
		h := sha256.New()
		h.Write(sum)
		h.Write(s.overflow.Sum(nil))
		sum = h.Sum(nil)
	}
	return hex.EncodeToString(sum)
}

// hashRow feeds the row's snapshot content (every column but execution_arn,
// source, run_id and extracted_at, which say where, how and when, not what)
// to the hash in an unambiguous encoding: each value is preceded by a
// presence byte and, for strings, its length. [TestContentHashCoversEveryColumn]
// changes each column in turn and fails when the hash does not change.
func (s *Snapshot) hashRow(r *schema.Operation) {
	if r.OverflowJSON != nil {
		if s.overflow == nil {
			s.overflow = sha256.New()
		}
		b := binary.BigEndian.AppendUint64(s.buf[:0], uint64(r.Seq))
		s.overflow.Write(appendStr(b, r.OverflowJSON))
	}
	b := s.buf[:0]
	b = binary.BigEndian.AppendUint64(b, uint64(r.Seq))
	b = appendStr(b, &r.OperationID)
	for _, p := range []*string{r.ParentID, r.Name, &r.Type, r.SubType, &r.Status, r.DetailKind, r.InputPayload, r.CallbackID, r.Result, r.ErrorType, r.ErrorMessage, r.ErrorData} {
		b = appendStr(b, p)
	}
	for _, t := range []*time.Time{r.StartTime, r.EndTime, r.NextAttemptTime, r.ScheduledEndTime} {
		if t == nil {
			b = append(b, 0)
		} else {
			b = binary.BigEndian.AppendUint64(append(b, 1), uint64(t.UnixMilli()))
		}
	}
	switch {
	case r.ReplayChildren == nil:
		b = append(b, 0)
	case *r.ReplayChildren:
		b = append(b, 1, 1)
	default:
		b = append(b, 1, 0)
	}
	if r.Attempt == nil {
		b = append(b, 0)
	} else {
		b = binary.BigEndian.AppendUint32(append(b, 1), uint32(*r.Attempt))
	}
	if r.ErrorStackTrace == nil {
		b = append(b, 0)
	} else {
		b = binary.BigEndian.AppendUint32(append(b, 1), uint32(min(len(r.ErrorStackTrace), math.MaxUint32)))
		for i := range r.ErrorStackTrace {
			b = appendStr(b, &r.ErrorStackTrace[i])
		}
	}
	s.hash.Write(b)
	s.buf = b
}

func appendStr(b []byte, p *string) []byte {
	if p == nil {
		return append(b, 0)
	}
	b = binary.BigEndian.AppendUint64(append(b, 1), uint64(len(*p)))
	return append(b, *p...)
}
