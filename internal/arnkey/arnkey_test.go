package arnkey_test

import (
	"testing"

	"github.com/durable-etl/durable-etl/internal/arnkey"
)

// TestOf: a key depends on every byte of the ARN, and only on it.
func TestOf(t *testing.T) {
	arn := "arn:aws:lambda:us-east-1:123456789012:function:orders:$LATEST/durable-execution/o-1/7f9c"
	if arnkey.Of(arn) != arnkey.Of(string([]byte(arn))) {
		t.Error("one ARN, two keys")
	}
	seen := map[arnkey.Key]string{arnkey.Of(arn): arn}
	for i := range len(arn) {
		b := []byte(arn)
		b[i] ^= 1
		if prev, ok := seen[arnkey.Of(string(b))]; ok {
			t.Errorf("%q and %q share a key", b, prev)
		}
		seen[arnkey.Of(string(b))] = string(b)
	}
	if arnkey.Of("") == arnkey.Of(arn) || arnkey.Of(arn+"x") == arnkey.Of(arn) {
		t.Error("a shorter or longer ARN has the same key")
	}
}
