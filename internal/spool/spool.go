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
	err := Fill(f, write)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Fill is Write for a writer the caller goes on using (a scratch file read
// back): it calls write with a buffered writer into w and flushes it,
// returning write's error, else the flush's.
func Fill(w io.Writer, write func(io.Writer) error) error {
	bw := bufio.NewWriterSize(w, bufferSize)
	err := write(bw)
	if err == nil {
		err = bw.Flush()
	}
	return err
}
