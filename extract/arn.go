package extract

import "strings"

// ARN is the parts of a durable execution ARN of the documented form
// arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME:QUALIFIER/durable-execution/EXECUTION_NAME/EXECUTION_ID.
type ARN struct {
	Partition, Region, AccountID, FunctionName, FunctionQualifier, ExecutionName, ExecutionID string
}

// ParseARN splits a durable execution ARN; ok is false when arn has another
// form (such an ARN is still archived, with the parsed columns null).
func ParseARN(arn string) (a ARN, ok bool) {
	parts := strings.SplitN(arn, ":", 8)
	if len(parts) != 8 || parts[0] != "arn" || parts[2] != "lambda" || parts[5] != "function" {
		return ARN{}, false
	}
	rest := strings.Split(parts[7], "/")
	if len(rest) != 4 || rest[1] != "durable-execution" {
		return ARN{}, false
	}
	a = ARN{Partition: parts[1], Region: parts[3], AccountID: parts[4], FunctionName: parts[6],
		FunctionQualifier: rest[0], ExecutionName: rest[2], ExecutionID: rest[3]}
	for _, v := range []string{a.Partition, a.Region, a.AccountID, a.FunctionName, a.FunctionQualifier, a.ExecutionName, a.ExecutionID} {
		if v == "" {
			return ARN{}, false
		}
	}
	return a, true
}

// Function is the unqualified ARN of the function the execution belongs
// to (arn:PARTITION:lambda:REGION:ACCOUNT:function:NAME): the same name in
// another region or account is another function.
func (a ARN) Function() string {
	return "arn:" + a.Partition + ":lambda:" + a.Region + ":" + a.AccountID + ":function:" + a.FunctionName
}
