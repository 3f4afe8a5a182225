package load

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// rangedSink is a sink whose published files can be read a range at a
// time, for readers that need a small part of a large file (verify's
// sampled executions): S3, where a whole-object download is the only other
// way.
type rangedSink interface {
	ranged(ctx context.Context, name string, size int64) io.ReaderAt
}

// rangedBlock and rangedBlocks size the block cache of a ranged reader: a
// GET fetches one block; a reader keeps the last few.
const (
	rangedBlock  = 1 << 20
	rangedBlocks = 4
)

func (s *s3Sink) ranged(ctx context.Context, name string, size int64) io.ReaderAt {
	return &s3Ranged{ctx: ctx, s: s, key: s.key(name), size: size, blocks: map[int64][]byte{}}
}

// s3Ranged reads an object by ranged GETs of whole blocks, keeping the last
// rangedBlocks of them. Safe for concurrent use.
type s3Ranged struct {
	ctx    context.Context
	s      *s3Sink
	key    string
	size   int64
	mu     sync.Mutex
	blocks map[int64][]byte
	order  []int64 // the cached blocks, oldest first
}

func (o *s3Ranged) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("negative offset")
	}
	n := 0
	for n < len(p) && off+int64(n) < o.size {
		at := off + int64(n)
		blk, err := o.block(at / rangedBlock)
		if err != nil {
			return n, err
		}
		n += copy(p[n:], blk[at%rangedBlock:])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (o *s3Ranged) block(b int64) ([]byte, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if blk, ok := o.blocks[b]; ok {
		return blk, nil
	}
	first, last := b*rangedBlock, min(o.size, (b+1)*rangedBlock)-1
	blk := make([]byte, last-first+1)
	err := o.s.get(o.ctx, &s3.GetObjectInput{Bucket: aws.String(o.s.bucket), Key: aws.String(o.key),
		Range: aws.String(fmt.Sprintf("bytes=%d-%d", first, last))}, func(body io.Reader) error {
		if _, err := io.ReadFull(body, blk); err != nil {
			return fmt.Errorf("read %s bytes %d-%d: %w", o.key, first, last, err)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(o.order) >= rangedBlocks {
		delete(o.blocks, o.order[0])
		o.order = o.order[1:]
	}
	o.blocks[b], o.order = blk, append(o.order, b)
	return blk, nil
}
