// Package scratch makes the temporary files only this process reads: the
// loader's staged and spilled rows, the fold's payloads, S3 objects read
// whole, spooled manifests, discovery's ARNs. Each is unlinked as soon as
// it is made, so that a run killed with SIGKILL leaves none behind; where
// the system cannot unlink an open file, Close removes it.
package scratch
