package loadgen

import (
	"math"
	"math/bits"
	"sync/atomic"
	"time"
)

// histogram records latencies in microseconds in fixed log-linear buckets,
// the way HDR histograms do: values below 64 µs exactly, above that 64
// buckets per power of two, so a percentile is within 1/64 (1.6%) of the
// true value whatever the range, in constant memory however long the run.
// Counters are atomic so that workers record without a lock and the
// progress line can read percentiles while the run goes on.
type histogram struct {
	counts [numBuckets]atomic.Uint64
	sumUS  atomic.Uint64
	maxUS  atomic.Uint64
}

const (
	subBits    = 6
	subBuckets = 1 << subBits
	numBuckets = (64 - subBits) * subBuckets
)

func bucketOf(us uint64) int {
	if us < subBuckets {
		return int(us)
	}
	shift := bits.Len64(us) - subBits - 1
	return (shift+1)*subBuckets + int(us>>shift) - subBuckets
}

// bucketMax is the highest value that falls in bucket i.
func bucketMax(i int) uint64 {
	if i < subBuckets {
		return uint64(i)
	}
	shift := i/subBuckets - 1
	mantissa := uint64(i%subBuckets + subBuckets)
	return (mantissa+1)<<shift - 1
}

func (h *histogram) record(d time.Duration) {
	us := uint64(max(d.Microseconds(), 0))
	h.counts[bucketOf(us)].Add(1)
	h.sumUS.Add(us)
	for {
		m := h.maxUS.Load()
		if us <= m || h.maxUS.CompareAndSwap(m, us) {
			return
		}
	}
}

// Latency summarizes a histogram, in milliseconds.
type Latency struct {
	Count int64   `json:"count"`
	Mean  float64 `json:"mean"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// summary reads the counters once, so the percentiles agree with each
// other even while workers keep recording.
func (h *histogram) summary() Latency {
	var counts [numBuckets]uint64
	var n uint64
	for i := range h.counts {
		counts[i] = h.counts[i].Load()
		n += counts[i]
	}
	if n == 0 {
		return Latency{}
	}
	maxUS := h.maxUS.Load()
	// A percentile is reported as the top of its bucket (never above the
	// true maximum): an upper bound, as HDR reports them.
	pct := func(q float64) float64 {
		rank := min(max(uint64(math.Ceil(q*float64(n))), 1), n)
		var seen uint64
		for i, c := range counts {
			seen += c
			if seen >= rank {
				return ms(min(bucketMax(i), maxUS))
			}
		}
		return ms(maxUS)
	}
	return Latency{
		Count: int64(n),
		Mean:  ms(h.sumUS.Load()) / float64(n),
		P50:   pct(0.50),
		P90:   pct(0.90),
		P99:   pct(0.99),
		Max:   ms(maxUS),
	}
}

func ms(us uint64) float64 { return float64(us) / 1000 }
