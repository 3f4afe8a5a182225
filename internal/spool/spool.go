package spool

import (
	"bufio"
	"io"
	"os"
)

// bufferSize is the write buffer's size.
const bufferSize = 64 << 10

// Write calls write with a buffered writer into f, flushes it and closes
// f. It returns write's error, else the flush's, else the close's; f is
// closed in every case, and what it holds after a failure is unspecified
// (callers remove it).
func Write(f *os.File, write func(io.Writer) error) error {
	bw := bufio.NewWriterSize(f, bufferSize)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
