package main

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"roster/internal/api"
)

const exportUsage = `Usage: roster export [flags]

Streams a workspace's stored events (or, with --profiles accounts, its account
profiles) as NDJSON from a running Roster, through its read API, so it works
on the embedded store and on PostgreSQL alike. Each event line is the event as
stored (with receivedAt and the corrected timestamp) plus "_roster", the log's
fields; roster import reads the files back. It prints a cursor as it goes:
--cursor continues an export from there. See docs/import-export.md.

`

func exportCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("export", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, exportUsage); fs.PrintDefaults() }
	base := fs.String("url", env("ROSTER_URL", "http://127.0.0.1:8080"), "base URL of the server (ROSTER_URL)")
	token := fs.String("token", env("ROSTER_ACCESS_TOKEN", ""), "access token of the workspace (ROSTER_ACCESS_TOKEN)")
	ws := fs.String("workspace", "default", "workspace")
	output := fs.String("output", "", "file to write (default stdout); with --cursor it is appended to")
	gz := fs.Bool("gzip", false, "gzip the output")
	since := fs.String("since", "", "only events at or after this time (ISO-8601, the event's timestamp)")
	until := fs.String("until", "", "only events before this time")
	typ := fs.String("type", "", "only events of this call type")
	source := fs.String("source", "", "only events of this source (its name)")
	profiles := fs.String("profiles", "", "export profiles instead of events: accounts")
	cursor := fs.String("cursor", "", "continue from a cursor a previous export printed")
	limit := fs.Int("page", 5000, "lines per request")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("export: unexpected argument %q", fs.Arg(0))
	}
	if *token == "" {
		return errors.New("export: an access token is required: --token or ROSTER_ACCESS_TOKEN")
	}
	path := "/export/events"
	q := url.Values{}
	switch *profiles {
	case "":
		for k, v := range map[string]string{"since": *since, "until": *until, "type": *typ, "source": *source} {
			if v != "" {
				q.Set(k, v)
			}
		}
		q.Set("limit", fmt.Sprint(*limit))
	case "accounts":
		path = "/export/accounts"
		q.Set("limit", fmt.Sprint(min(*limit, 1000)))
	case "users":
		return errors.New("export: --profiles users is not available yet; accounts list their members' external ids")
	default:
		return fmt.Errorf("export: --profiles must be accounts or users, not %q", *profiles)
	}

	var w io.Writer = stdout
	if *output != "" {
		flags := os.O_CREATE | os.O_WRONLY | os.O_TRUNC
		if *cursor != "" {
			flags = os.O_CREATE | os.O_WRONLY | os.O_APPEND
		}
		f, err := os.OpenFile(*output, flags, 0o644)
		if err != nil {
			return fmt.Errorf("export: %w", err)
		}
		defer f.Close()
		w = f
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	var zw *gzip.Writer
	out := io.Writer(bw)
	if *gz {
		// A continued export adds a gzip member; readers of gzip read
		// the members as one stream.
		zw = gzip.NewWriter(bw)
		out = zw
	}
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	endpoint := strings.TrimRight(*base, "/") + "/v1/workspaces/" + url.PathEscape(*ws) + path
	next := *cursor
	lines, last := 0, time.Now()
	var err error
	for {
		if next != "" {
			if *profiles == "" {
				q.Set("after", next)
			} else {
				q.Set("next", next)
			}
		}
		var n int
		var more bool
		var cur string
		n, cur, more, err = exportPage(ctx, endpoint+"?"+q.Encode(), *token, out)
		if err != nil {
			break
		}
		lines += n
		if cur != "" {
			next = cur
		}
		if time.Since(last) > 5*time.Second {
			last = time.Now()
			fmt.Fprintf(stderr, "export: %d lines, cursor %s\n", lines, next)
		}
		if !more {
			break
		}
	}
	var ferr error
	if zw != nil {
		ferr = zw.Close()
	}
	ferr = errors.Join(ferr, bw.Flush())
	if err == nil {
		err = ferr
	}
	if err != nil {
		if next != "" {
			fmt.Fprintf(stderr, "export stopped after %d lines; continue with --cursor %s\n", lines, next)
		}
		return err
	}
	fmt.Fprintf(stderr, "exported %d lines; cursor %s\n", lines, next)
	return nil
}

// exportPage copies one page to out and returns its lines, its cursor and
// whether there is more.
func exportPage(ctx context.Context, u, token string, out io.Writer) (int, string, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return 0, "", false, err
	}
	req.SetBasicAuth(token, "")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, "", false, fmt.Errorf("export: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(res.Body, 4096))
		return 0, "", false, fmt.Errorf("export: %s answered %d: %s", u, res.StatusCode, strings.TrimSpace(string(b)))
	}
	// The page is read whole before it is written, so that the cursor
	// printed always follows complete lines.
	body, err := io.ReadAll(res.Body)
	if err != nil {
		return 0, "", false, fmt.Errorf("export: %w", err)
	}
	if _, err := out.Write(body); err != nil {
		return 0, "", false, fmt.Errorf("export: %w", err)
	}
	n := strings.Count(string(body), "\n")
	return n, res.Header.Get(api.CursorHeader), res.Header.Get(api.MoreHeader) == "true", nil
}
