package console

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// The overview's chart is SVG drawn here, so the page needs no chart
// library and no script.

const (
	chartWidth  = 600
	chartHeight = 180
)

var chartColors = []string{"#2563eb", "#16a34a", "#9333ea", "#ea580c", "#0891b2", "#ca8a04", "#dc2626"}

type chart struct {
	Width, Height int
	Lines         []chartLine
	// YMax is the events/s at the top of the chart.
	YMax  string
	Start string
	End   string
}

type chartLine struct {
	Type   string
	Color  string
	Points string
	// Total is the calls of the hour; Now the events/s of the last full minute.
	Total int64
	Now   string
}

func rateChart(end time.Time, counts map[string][]int64) chart {
	var peak int64 = 1
	for _, t := range callTypesIndex {
		for _, n := range counts[t] {
			peak = max(peak, n)
		}
	}
	c := chart{Width: chartWidth, Height: chartHeight, YMax: perSecond(peak),
		Start: end.Add(-chartMinutes * time.Minute).Format("15:04 UTC"), End: end.Format("15:04 UTC")}
	for i, t := range callTypesIndex {
		ns := counts[t]
		var b strings.Builder
		var total int64
		for x, n := range ns {
			total += n
			px := float64(x) * chartWidth / float64(chartMinutes-1)
			py := chartHeight - float64(n)*chartHeight/float64(peak)
			fmt.Fprintf(&b, "%.1f,%.1f ", px, py)
		}
		last := int64(0)
		if len(ns) >= 2 {
			last = ns[len(ns)-2]
		}
		c.Lines = append(c.Lines, chartLine{Type: t, Color: chartColors[i%len(chartColors)],
			Points: strings.TrimSpace(b.String()), Total: total, Now: perSecond(last)})
	}
	return c
}

func perSecond(perMinute int64) string {
	return strconv.FormatFloat(float64(perMinute)/60, 'f', 2, 64)
}
