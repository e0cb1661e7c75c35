package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"text/tabwriter"
	"time"
)

const destinationsUsage = `Usage:
  roster destinations [flags]                     delivery counts of each destination
  roster destinations [flags] dead-letters NAME   the dead letters of a destination, newest first
  roster destinations [flags] redrive NAME        send a destination's dead letters again

It asks a running Roster (--url) with an access token of the workspace.

`

// destinations shows and re-drives deliveries through a running server's
// API: the server owns the data directory, so the CLI cannot open it.
func destinations(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("destinations", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() { fmt.Fprint(stderr, destinationsUsage); fs.PrintDefaults() }
	base := fs.String("url", env("ROSTER_URL", "http://127.0.0.1:8080"), "base URL of the server (ROSTER_URL)")
	token := fs.String("token", env("ROSTER_ACCESS_TOKEN", ""), "access token (ROSTER_ACCESS_TOKEN)")
	ws := fs.String("workspace", "default", "workspace")
	limit := fs.Int("limit", 20, "dead letters to show")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *token == "" {
		return errors.New("destinations: an access token is required: --token or ROSTER_ACCESS_TOKEN")
	}
	c := apiClient{base: strings.TrimRight(*base, "/") + "/v1/workspaces/" + url.PathEscape(*ws) + "/destinations", token: *token}
	switch {
	case fs.NArg() == 0:
		var resp struct {
			Data []struct {
				Name, Type        string
				Behind, Delivered int64
				Retrying, Dead    int
			}
		}
		if err := c.do(ctx, http.MethodGet, "", &resp); err != nil {
			return err
		}
		tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tTYPE\tBEHIND\tRETRYING\tDELIVERED\tDEAD")
		for _, d := range resp.Data {
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d\t%d\n", d.Name, d.Type, d.Behind, d.Retrying, d.Delivered, d.Dead)
		}
		return tw.Flush()
	case fs.NArg() == 2 && fs.Arg(0) == "dead-letters":
		var resp struct {
			Data []struct {
				Seq      int64
				Attempts int
				Error    string
				Response string
				FailedAt time.Time `json:"failed_at"`
			}
		}
		if err := c.do(ctx, http.MethodGet, "/"+url.PathEscape(fs.Arg(1))+"/dead-letters?limit="+fmt.Sprint(*limit), &resp); err != nil {
			return err
		}
		for _, d := range resp.Data {
			fmt.Fprintf(stdout, "seq %d  failed %s after %d attempts: %s\n  %s\n", d.Seq, d.FailedAt.Format(time.RFC3339), d.Attempts, d.Error, d.Response)
		}
		return nil
	case fs.NArg() == 2 && fs.Arg(0) == "redrive":
		var resp struct{ Redriven int }
		if err := c.do(ctx, http.MethodPost, "/"+url.PathEscape(fs.Arg(1))+"/redrive", &resp); err != nil {
			return err
		}
		fmt.Fprintf(stdout, "%d dead letters scheduled to be sent again\n", resp.Redriven)
		return nil
	}
	fs.Usage()
	return fmt.Errorf("destinations: unexpected arguments %q", fs.Args())
}

type apiClient struct{ base, token string }

func (c apiClient) do(ctx context.Context, method, path string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, nil)
	if err != nil {
		return err
	}
	req.SetBasicAuth(c.token, "")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("destinations: %w", err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 8<<20))
	if err != nil {
		return fmt.Errorf("destinations: %w", err)
	}
	if resp.StatusCode != http.StatusOK {
		var e struct{ Error struct{ Message string } }
		if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
			return fmt.Errorf("destinations: %s: %s", resp.Status, e.Error.Message)
		}
		return fmt.Errorf("destinations: %s", resp.Status)
	}
	return json.Unmarshal(body, out)
}
