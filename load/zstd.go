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
	encoders chan *zstd.Encoder
	decoders chan *zstd.Decoder
}

// zstdFree is how many idle encoders (and decoders) a codec keeps.
const zstdFree = 8

var _ compress.Codec = (*zstdCodec)(nil)

func (c *zstdCodec) String() string { return "ZSTD" }

func (c *zstdCodec) CompressionCodec() format.CompressionCodec { return format.Zstd }

func (c *zstdCodec) init() {
	c.once.Do(func() {
		c.encoders = make(chan *zstd.Encoder, zstdFree)
		c.decoders = make(chan *zstd.Decoder, zstdFree)
	})
}

// Encode compresses src into dst as one frame (no CRC, empty input as a
// zero frame).
func (c *zstdCodec) Encode(dst, src []byte) ([]byte, error) {
	c.init()
	var e *zstd.Encoder
	select {
	case e = <-c.encoders:
	default:
		var err error
		if e, err = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(c.level),
			zstd.WithZeroFrames(true), zstd.WithEncoderCRC(false)); err != nil {
			return nil, err
		}
	}
	out := e.EncodeAll(src, dst[:0])
	select {
	case c.encoders <- e:
	default:
	}
	return out, nil
}

// Decode decompresses src into dst.
func (c *zstdCodec) Decode(dst, src []byte) ([]byte, error) {
	c.init()
	var d *zstd.Decoder
	select {
	case d = <-c.decoders:
	default:
		var err error
		if d, err = zstd.NewReader(nil, zstd.WithDecoderConcurrency(1)); err != nil {
			return nil, err
		}
	}
	out, err := d.DecodeAll(src, dst[:0])
	select {
	case c.decoders <- d:
	default:
		d.Close()
	}
	return out, err
}
