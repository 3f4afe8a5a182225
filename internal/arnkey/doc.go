// Package arnkey makes the fixed-size key that stands for an execution ARN
// where millions are held at once (the manifest's duplicate check, the
// ledger of what the archive holds): 16 bytes of the ARN's SHA-256,
// whatever the ARN's length. A collision is out of reach (about 10^-21
// among a billion ARNs), so two ARNs with one key are taken as one.
package arnkey
