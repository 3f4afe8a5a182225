package extract

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/durable-etl/durable-etl/extract/decode"
)

// listedPage is what the first pass of drainBackwards keeps of a page: the
// marker that asked for it and what it held.
type listedPage struct {
	marker      *string
	events      int
	first, last int32 // EventIds, when ids is set
	ids         bool
	more        bool // a NextMarker followed it
}

// drainBackwards reads the history of a service that lists the newest
// event first whatever ReverseOrder says, oldest event first all the same,
// holding one page at a time: a first pass pages through the history and
// keeps, of each page, only the marker that asked for it and the EventIds
// it held (its events are dropped); then the pages are asked for again by
// those markers, from the last listed (the oldest events) to the first,
// and each is handed to fn with its events reversed once it is found to
// hold what it held the first time. It costs each page twice. A page that
// changed between the passes (a service whose markers count events, and a
// history that grew meanwhile) fails the execution with the code
// HistoryChanged (ExecutionError.Changed), before fn sees it: what fn was
// given is the history's oldest events, in order, and reading it again
// from the start may succeed. Failures are *ExecutionError, as for
// [DrainHistory].
func drainBackwards(ctx context.Context, api HistoryAPI, arn string, pageSize int32, withData bool, fn func(context.Context, HistoryPage) error) error {
	in := lambda.GetDurableExecutionHistoryInput{DurableExecutionArn: aws.String(arn), IncludeExecutionData: aws.Bool(withData), MaxItems: pageSize}
	p := lambda.NewGetDurableExecutionHistoryPaginator(api, &in, func(o *lambda.GetDurableExecutionHistoryPaginatorOptions) { o.StopOnDuplicateToken = true })
	var pages []listedPage
	var marker *string
	err := drainPages(ctx, Entry{ARN: arn}, "history", p, func(out *lambda.GetDurableExecutionHistoryOutput) *string { return out.NextMarker },
		func(_ int, out *lambda.GetDurableExecutionHistoryOutput, _ *decode.Unknown) error {
			pages = append(pages, listed(marker, out))
			marker = out.NextMarker
			return nil
		})
	if err != nil {
		return err
	}
	for k := len(pages) - 1; k >= 0; k-- {
		n := len(pages) - k
		req := in
		req.Marker = pages[k].marker
		var u decode.Unknown
		out, err := api.GetDurableExecutionHistory(decode.WithUnknown(ctx, &u), &req)
		if err != nil {
			return classify(Entry{ARN: arn}, fmt.Sprintf("page %d", n), err)
		}
		if got := listed(pages[k].marker, out); got != pages[k] {
			return &ExecutionError{ARN: arn, Code: codeChanged, Reason: fmt.Sprintf(
				"page %d: the service lists the history newest first whatever ReverseOrder says, and the page read again to hand its events on oldest first holds other events than it did (%s, now %s): the history changed while it was read",
				n, pages[k], got)}
		}
		slices.Reverse(out.Events)
		var unknown map[int]json.RawMessage
		for i, raw := range u.Records {
			if unknown == nil {
				unknown = map[int]json.RawMessage{}
			}
			unknown[len(out.Events)-1-i] = raw
		}
		if err := fn(ctx, HistoryPage{Number: n, Events: out.Events, Unknown: unknown}); err != nil {
			return useError(Entry{ARN: arn}, err)
		}
	}
	return nil
}

// listed is what drainBackwards keeps of out, the page marker asked for.
func listed(marker *string, out *lambda.GetDurableExecutionHistoryOutput) listedPage {
	lp := listedPage{marker: marker, events: len(out.Events), more: out.NextMarker != nil}
	lp.first, lp.ids = firstEventID(out.Events)
	lp.last, _ = lastEventID(out.Events)
	return lp
}

func (lp listedPage) String() string {
	if !lp.ids {
		return fmt.Sprintf("%d events without ids", lp.events)
	}
	return fmt.Sprintf("%d events, ids %d to %d", lp.events, lp.first, lp.last)
}
