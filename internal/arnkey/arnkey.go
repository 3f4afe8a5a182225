package arnkey

import "crypto/sha256"

// Key stands for one ARN.
type Key [16]byte

// Of is arn's key.
func Of(arn string) Key {
	h := sha256.Sum256([]byte(arn))
	return Key(h[:16])
}
