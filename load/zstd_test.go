package load

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	pqzstd "github.com/parquet-go/parquet-go/compress/zstd"
)

// TestZstdCodecMatchesParquetGo: pages compress to the bytes parquet-go's
// own zstd codec makes (so files do not change with the codec), decode
// back, and do so from many goroutines at once, past the free list's size.
func TestZstdCodecMatchesParquetGo(t *testing.T) {
	ours, theirs := &zstdCodec{level: pqzstd.SpeedFastest}, &pqzstd.Codec{Level: pqzstd.SpeedFastest}
	inputs := [][]byte{nil, []byte("x"), []byte(strings.Repeat("abc", 100000)), bytes.Repeat([]byte{0, 1, 2, 3, 250}, 7777)}
	var wg sync.WaitGroup
	for g := 0; g < 3*zstdFree; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for _, in := range inputs {
				want, err := theirs.Encode(nil, in)
				if err != nil {
					t.Error(err)
					return
				}
				got, err := ours.Encode(make([]byte, 3), in)
				if err != nil || !bytes.Equal(got, want) {
					t.Errorf("%d bytes: %d compressed bytes, parquet-go's %d (equal: %v, err %v)", len(in), len(got), len(want), bytes.Equal(got, want), err)
					return
				}
				back, err := ours.Decode(nil, got)
				if err != nil || !bytes.Equal(back, in) {
					t.Errorf("%d bytes: round trip gave %d bytes, err %v", len(in), len(back), err)
				}
			}
		}()
	}
	wg.Wait()
}
