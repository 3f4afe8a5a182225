package extract_test

import (
	"strings"
	"testing"

	"github.com/durable-etl/durable-etl/extract"
)

func TestParseARN(t *testing.T) {
	good := "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-fn:$LATEST.PUBLISHED/durable-execution/run:1/abc"
	a, ok := extract.ParseARN(good)
	if !ok || a.Partition != "aws-cn" || a.FunctionQualifier != "$LATEST.PUBLISHED" || a.ExecutionName != "run:1" || a.ExecutionID != "abc" {
		t.Errorf("ParseARN(%q) = %+v, %v", good, a, ok)
	}
	if f := a.Function(); f != "arn:aws-cn:lambda:cn-north-1:123456789012:function:my-fn" {
		t.Errorf("Function() = %q", f)
	}
	for _, bad := range []string{
		"", "not-an-arn",
		"arn:aws:lambda:us-east-1:123456789012:function:fn",
		"arn:aws:lambda:us-east-1:123456789012:function:fn:1/durable-execution/name",
		"arn:aws:lambda:us-east-1:123456789012:function:fn:1/other/name/id",
		"arn:aws:s3:us-east-1:123456789012:function:fn:1/durable-execution/n/i",
		"arn:aws:lambda::123456789012:function:fn:1/durable-execution/n/i",
		strings.Repeat("x", 100),
	} {
		if _, ok := extract.ParseARN(bad); ok {
			t.Errorf("ParseARN(%q) accepted", bad)
		}
	}
}
