package pebble

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/cockroachdb/pebble/v2/sstable"

	"roster/internal/store"
	"roster/internal/store/storetest"
)

// BenchmarkTableSize writes 50,000 events like the benchmark mix's group
// calls and reports the size of their tables under zstd and snappy, which
// is how pebbleOptions' choice was made (-benchtime 1x).
func BenchmarkTableSize(b *testing.B) {
	defer func(c func() *sstable.CompressionProfile) { compression = c }(compression)
	for _, p := range []*sstable.CompressionProfile{sstable.ZstdCompression, sstable.SnappyCompression} {
		b.Run(p.Name, func(b *testing.B) { tableSize(b, p) })
	}
}

func tableSize(b *testing.B, p *sstable.CompressionProfile) {
	t := b
	compression = func() *sstable.CompressionProfile { return p }
	for range b.N {
		dir := t.TempDir()
		s, err := Open(context.Background(), dir, store.Options{}, discard())
		if err != nil {
			t.Fatal(err)
		}
		for i := range 50 {
			batch := make([]store.Event, 1000)
			for j := range batch {
				n := i*1000 + j
				batch[j] = storetest.Event("default", "web", fmt.Sprintf("%08x-1c2d-4e5f-8a9b-%012x", n*2654435761, n))
				batch[j].Body = fmt.Appendf(nil, `{"type":"group","messageId":"%s","userId":"u%d","groupId":"g%d","traits":{"name":"Initech %d","industry":"Technology","employees":%d,"plan":"pro"},"context":{"library":{"name":"analytics-node","version":"2.1.0"},"ip":"10.0.%d.%d"},"receivedAt":"2024-05-01T12:00:00.000Z","timestamp":"2024-05-01T12:00:00.000Z"}`,
					batch[j].MessageID, n%50000, n%5000, n%5000, n%400, n%256, n%200)
			}
			if err := s.Append(context.Background(), batch, nil); err != nil {
				t.Fatal(err)
			}
		}
		if err := s.db.Flush(); err != nil {
			t.Fatal(err)
		}
		if err := s.db.Compact(context.Background(), []byte{0}, []byte{0xff}, false); err != nil {
			t.Fatal(err)
		}
		var size int64
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasSuffix(e.Name(), ".sst") {
				fi, _ := os.Stat(filepath.Join(dir, e.Name()))
				size += fi.Size()
			}
		}
		b.ReportMetric(float64(size)/1e6, "MB")
		s.Close()
	}
}
