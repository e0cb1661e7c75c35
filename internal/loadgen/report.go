package loadgen

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"
)

// Report is a bench: the run against the floor when asked, then the run
// against the endpoint.
type Report struct {
	Config Settings `json:"config"`
	Floor  *Result  `json:"floor,omitempty"`
	Target *Result  `json:"target"`
	// RatioToFloor is the endpoint's acknowledged events/s over the
	// floor's: 0.25 means a quarter of what the bare HTTP stack does.
	RatioToFloor float64 `json:"ratioToFloor,omitempty"`
}

// Settings are the Config fields that shape the traffic, for the report.
type Settings struct {
	URL         string  `json:"url"`
	Workspace   string  `json:"workspace"`
	Duration    string  `json:"duration,omitempty"`
	Events      int64   `json:"events,omitempty"`
	Warmup      string  `json:"warmup,omitempty"`
	Concurrency int     `json:"concurrency"`
	Batch       int     `json:"batch"`
	Rate        float64 `json:"rate,omitempty"`
	Mix         Mix     `json:"mix"`
	Groups      int     `json:"groups"`
	Users       int     `json:"users"`
	Gzip        bool    `json:"gzip"`
	Verify      bool    `json:"verify"`
	Seed        uint64  `json:"seed"`
}

// Bench runs cfg's traffic against the floor first when floor is set,
// then against cfg.URL. The report holds whatever ran, also on error.
func Bench(ctx context.Context, cfg Config, floor bool) (*Report, error) {
	full, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	rep := &Report{Config: Settings{
		URL: full.URL, Workspace: full.Workspace, Events: full.Events, Concurrency: full.Concurrency,
		Batch: full.Batch, Rate: full.Rate, Mix: full.Mix, Groups: full.Groups, Users: full.Users,
		Gzip: full.Gzip, Verify: full.Verify, Seed: full.Seed,
	}}
	if full.Duration > 0 {
		rep.Config.Duration = full.Duration.String()
	}
	if full.Warmup > 0 {
		rep.Config.Warmup = full.Warmup.String()
	}
	if floor {
		if rep.Floor, err = runFloor(ctx, cfg); err != nil || rep.Floor.Interrupted {
			return rep, err
		}
	}
	rep.Target, err = Run(ctx, cfg)
	if rep.Floor != nil && rep.Target != nil && rep.Floor.EventsPerSec > 0 {
		rep.RatioToFloor = rep.Target.EventsPerSec / rep.Floor.EventsPerSec
	}
	return rep, err
}

// runFloor runs the same traffic (same seed, so the same messages)
// against a floor that is stopped before the endpoint's run, so that it
// takes no CPU from it.
func runFloor(ctx context.Context, cfg Config) (*Result, error) {
	f, err := StartFloor()
	if err != nil {
		return nil, err
	}
	defer f.Close()
	cfg.URL, cfg.Label, cfg.Verify, cfg.Token = f.URL, "floor", false, ""
	if cfg.RunID != "" {
		cfg.RunID += "-floor"
	}
	res, err := Run(ctx, cfg)
	if err != nil {
		return res, fmt.Errorf("floor: %w", err)
	}
	return res, nil
}

// Err says why the bench did not pass: interrupted, nothing acknowledged,
// or acknowledged events missing or duplicated.
func (r *Report) Err() error {
	t := r.Target
	switch {
	case (r.Floor != nil && r.Floor.Interrupted) || (t != nil && t.Interrupted):
		return errors.New("interrupted")
	case t == nil:
		return nil
	case t.Acked == 0:
		return fmt.Errorf("%s acknowledged no event", t.URL)
	case t.Verify != nil && !t.Verify.OK():
		return fmt.Errorf("verify: %d acknowledged events missing, %d duplicated", t.Verify.Missing, t.Verify.Duplicates)
	}
	return nil
}

// WriteJSON writes the report for machines.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// WriteText writes the report for people.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	c := r.Config
	loop := "closed loop"
	if c.Rate > 0 {
		loop = "open loop at " + thousands(int64(c.Rate)) + " events/s"
	}
	var length []string
	if c.Duration != "" {
		length = append(length, c.Duration)
	}
	if c.Events > 0 {
		length = append(length, "up to "+thousands(c.Events)+" events")
	}
	if c.Warmup != "" {
		length = append(length, "after a "+c.Warmup+" warm-up")
	}
	fmt.Fprintf(&b, "roster bench: %s, batch %d, concurrency %d, %s, mix %s, %s groups, %s users, gzip %t, seed %d\n\n",
		strings.Join(length, ", "), c.Batch, c.Concurrency, loop, c.Mix, thousands(int64(c.Groups)), thousands(int64(c.Users)), c.Gzip, c.Seed)
	// Columns are right-aligned; labels are padded to one width so that
	// they read left-aligned.
	width := 0
	for _, res := range []*Result{r.Floor, r.Target} {
		if res != nil {
			width = max(width, len(res.Label))
		}
	}
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-*s\tevents/s\tacked\trejected\tfailed\trequests\tp50\tp90\tp99\tmax\t\n", width, "")
	for _, res := range []*Result{r.Floor, r.Target} {
		if res == nil {
			continue
		}
		l := res.Latency
		fmt.Fprintf(tw, "%-*s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t\n", width, res.Label, thousands(int64(res.EventsPerSec)),
			thousands(res.Acked), thousands(res.Rejected), thousands(res.Failed), thousands(res.Requests),
			fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.Max))
	}
	tw.Flush() //nolint:errcheck // a strings.Builder
	b.WriteByte('\n')
	if r.RatioToFloor > 0 {
		fmt.Fprintf(&b, "ratio to floor: %.3f (%s acknowledges %.1f%% of the events/s of a do-nothing handler on this machine)\n",
			r.RatioToFloor, r.Target.URL, 100*r.RatioToFloor)
	}
	for _, res := range []*Result{r.Floor, r.Target} {
		if res != nil {
			details(&b, res, r.Floor != nil)
		}
	}
	if r.Target != nil && len(r.Target.Windows) > 0 {
		writeWindows(&b, r.Target.Windows)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// writeWindows lists the run's windows, so that a drift from the first to
// the last shows.
func writeWindows(b *strings.Builder, ws []Window) {
	b.WriteString("\nby window:\n")
	tw := tabwriter.NewWriter(b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "from\tacked\tp50\tp90\tp99\tmax\t\n")
	for _, w := range ws {
		l := w.Latency
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t\n", time.Duration(w.StartSeconds*float64(time.Second)).Round(time.Second),
			thousands(w.Acked), fmtMS(l.P50), fmtMS(l.P90), fmtMS(l.P99), fmtMS(l.Max))
	}
	tw.Flush() //nolint:errcheck // a strings.Builder
}

func details(b *strings.Builder, res *Result, labelled bool) {
	label := ""
	if labelled {
		label = " (" + res.Label + ")"
	}
	var types []string
	for _, name := range kindNames {
		if n, ok := res.AckedByType[name]; ok {
			types = append(types, name+" "+thousands(n))
		}
	}
	fmt.Fprintf(b, "acked by type%s: %s\n", label, strings.Join(types, ", "))
	if len(res.Errors) == 0 {
		fmt.Fprintf(b, "errors%s: none\n", label)
	} else {
		var errs []string
		for _, k := range slices.Sorted(maps.Keys(res.Errors)) {
			errs = append(errs, k+" ×"+thousands(res.Errors[k]))
		}
		fmt.Fprintf(b, "errors%s: %s; first: %s\n", label, strings.Join(errs, ", "), res.FirstError)
	}
	if res.Unsent > 0 {
		fmt.Fprintf(b, "behind schedule%s: %s events due before the end were not sent\n", label, thousands(res.Unsent))
	}
	if w := res.Warmup; w != nil {
		fmt.Fprintf(b, "warm-up%s, not counted above: %.1fs, %s events acknowledged, %s failed\n", label, w.Seconds, thousands(w.Acked), thousands(w.Failed))
	}
	if res.Interrupted {
		fmt.Fprintf(b, "interrupted%s after %.1fs\n", label, res.Seconds)
	}
	if p := res.Processing; p != nil {
		if p.TimedOut {
			fmt.Fprintf(b, "profiles%s: NOT caught up %.1fs after the last ack (%s events behind then)\n", label, p.CaughtUpSeconds, thousands(p.BehindAtEnd))
		} else {
			fmt.Fprintf(b, "profiles%s: caught up %.2fs after the last ack (%s events behind then), %s events/s end to end\n",
				label, p.CaughtUpSeconds, thousands(p.BehindAtEnd), thousands(int64(p.EndToEndPerSec)))
		}
	}
	if v := res.Verify; v != nil {
		status := "OK, every acknowledged event is stored exactly once"
		if !v.OK() {
			status = fmt.Sprintf("FAILED, %s missing, %s duplicated", thousands(v.Missing), thousands(v.Duplicates))
			if len(v.MissingSample) > 0 {
				status += " (missing: " + strings.Join(v.MissingSample, ", ") + ")"
			}
		}
		fmt.Fprintf(b, "verify%s: %s: %s acknowledged, %s found, %s stored without an acknowledgement; read %s events in %d pages, %.1fs\n",
			label, status, thousands(v.Acked), thousands(v.Found), thousands(v.Unacked), thousands(v.Read), v.Pages, v.Seconds)
	}
}

// thousands writes n with thousands separators: 1,234,567.
func thousands(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtMS prints milliseconds with the precision that matters at each scale.
func fmtMS(ms float64) string {
	switch {
	case ms == 0:
		return "-"
	case ms < 10:
		return strconv.FormatFloat(ms, 'f', 2, 64) + "ms"
	case ms < 1000:
		return strconv.FormatFloat(ms, 'f', 1, 64) + "ms"
	}
	return strconv.FormatFloat(ms/1000, 'f', 2, 64) + "s"
}
