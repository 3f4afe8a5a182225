// Package golden compares a test's output with a file under testdata/, as
// sqlc's tests do: the file is what the output was when a person last
// reviewed it; go test PKG -update rewrites every such file of PKG's tests
// to the output of now, for the diff to be reviewed in the commit.
package golden
