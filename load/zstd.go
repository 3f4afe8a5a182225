package load

import (
	"sync"

	"github.com/klauspost/compress/zstd"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/format"
)

// zstdCodec compresses pages as parquet-go's zstd codec does (the same
// encoder options, so the same bytes), but keeps its encoders in a free
// list that garbage collection does not empty. parquet-go's codec keeps
// them in a sync.Pool, which every collection clears, and a new encoder
// allocates its history (about 370 KiB) before its first page: under the
// run's memory limit the collector runs often, so at hundreds of
// partitions most files paid for new encoders.
type zstdCodec struct {
	level    zstd.EncoderLevel
	once     sync.Once
	encoders freeList[*zstd.Encoder]
	decoders freeList[*zstd.Decoder]
}

// zstdWindow is the encoders' window. A page is a frame of its own, and
// a window past the page's size finds nothing more: a page of up to
// 1 MiB (parquet-go's page buffer is 256 KiB; only large values pass it)
// compresses to the same bytes as with the library's default of 8 MiB,
// which was memory each pooled encoder kept once it had compressed a
// page of more than 128 KiB. A larger page may compress a little less.
const zstdWindow = 1 << 20

// zstdFree is how many idle encoders (and decoders) a codec keeps.
const zstdFree = 8

var _ compress.Codec = (*zstdCodec)(nil)

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) init() {
	c.once.Do(func() {
		c.encoders = make(freeList[*zstd.Encoder], zstdFree)
		c.decoders = make(freeList[*zstd.Decoder], zstdFree)
	})
}

// Encode compresses src into dst as one frame (no CRC, empty input as a
// zero frame).
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	c.init()
	e, ok := c.encoders.take()
	if !ok {
		var err error
		if e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(c.level),
			zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false), zstd.WithWindowSize(zstdWindow)); err != nil {
			return nil, err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	c.encoders.give(e)
	return out, nil
}

// Decode decompresses src into dst.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	c.init()
	d, ok := c.decoders.take()
	if !ok {
		var err error
		if d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)); err != nil {
			return nil, err
		}
	}
	out, err := d.DecodeAll(src, dst[:0])
	if !c.decoders.give(d) {
		d.Close()
	}
	return out, err
}

// freeList keeps up to its capacity of idle values for reuse, unlike a
// sync.Pool, which every garbage collection empties.
type freeList[T any] chan T

// take is an idle value, if there is one.
func (f freeList[T]) take() (T, bool) {
	select {
	case v := <-f:
		return v, true
	default:
		var zero T
		return zero, false
	}
}

// give keeps v unless the list is full (then it reports false).
func (f freeList[T]) give(v T) bool {
	select {
	case f <- v:
		return true
	default:
		return false
	}
}
