package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/conveyor-dev/conveyor/engine"
)

// topCmd is the live stage table of a running runner, read from its
// control API: what the console's pipeline view shows, in a terminal.
type topCmd struct {
	Addr     string        `help:"Console address of the running runner (its --console-addr), host:port or a URL." env:"CONVEYOR_CONSOLE_ADDR" default:"127.0.0.1:7460" placeholder:"HOST:PORT"`
	Interval time.Duration `help:"Time between refreshes." default:"1s"`
	Count    int           `help:"Stop after this many refreshes (0: until interrupted)." default:"0"`
}

// stagesURL is the control API's stage list at addr.
func stagesURL(addr string) string {
	base := strings.TrimSuffix(addr, "/")
	if !strings.Contains(base, "://") {
		base = "http://" + base
	}
	return base + "/api/v1/stages"
}

func (c *topCmd) run(stdout io.Writer, term *terminal) error {
	if c.Interval <= 0 {
		return &exitError{code: exitUsage, err: errors.New("runner top: --interval must be positive")}
	}
	ctx, stop := signalContext(slog.New(slog.DiscardHandler), nil)
	defer stop()
	client := &http.Client{Timeout: 5 * time.Second}
	url := stagesURL(c.Addr)
	var prev map[string]engine.StageStatus
	var prevAt time.Time
	for n := 0; c.Count == 0 || n < c.Count; n++ {
		if n > 0 {
			select {
			case <-ctx.Done():
				return nil
			case <-time.After(c.Interval):
			}
		}
		stages, err := fetchStages(ctx, client, url)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return fmt.Errorf("top: %w", err)
		}
		now := time.Now()
		var b strings.Builder
		writeTop(&b, stages, prev, now.Sub(prevAt).Seconds())
		if term != nil {
			fmt.Fprint(stdout, "\x1b[H\x1b[2J")
		} else if n > 0 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprint(stdout, b.String())
		prev, prevAt = map[string]engine.StageStatus{}, now
		for _, s := range stages {
			prev[s.Pipeline+"/"+s.Stage] = s
		}
	}
	return nil
}

func fetchStages(ctx context.Context, client *http.Client, url string) ([]engine.StageStatus, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("is a runner serving its console there (--console-addr)? %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return nil, fmt.Errorf("GET %s: %s: %s", url, resp.Status, strings.TrimSpace(string(body)))
	}
	var stages []engine.StageStatus
	if err := json.NewDecoder(resp.Body).Decode(&stages); err != nil {
		return nil, fmt.Errorf("GET %s: %w", url, err)
	}
	return stages, nil
}

// writeTop renders the stage table; rates come from prev, secs ago, and
// show "-" on the first refresh or for a stage that restarted since.
func writeTop(w io.Writer, stages []engine.StageStatus, prev map[string]engine.StageStatus, secs float64) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "PIPELINE\tSTAGE\tKIND\tDELIVERY\tSTATE\tIN/S\tOUT/S\tIN\tOUT\tLAG\tDEAD\tDROPPED\tREASON")
	for _, s := range stages {
		inRate, outRate := "-", "-"
		if p, ok := prev[s.Pipeline+"/"+s.Stage]; ok && secs > 0 && p.Started.Equal(s.Started) {
			inRate = rate(s.In-p.In, secs)
			outRate = rate(s.Out-p.Out, secs)
		}
		lag := "-"
		if s.Lag >= 0 && s.Kind != "source" {
			lag = strconv.FormatInt(s.Lag, 10)
		}
		reason := s.Reason
		if len(reason) > 60 {
			reason = reason[:57] + "..."
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%d\t%d\t%s\t%d\t%d\t%s\n",
			s.Pipeline, s.Stage, s.Kind, s.Delivery, s.State, inRate, outRate, s.In, s.Out, lag, s.DeadLettered, s.Dropped, reason)
	}
	tw.Flush()
}

func rate(d int64, secs float64) string {
	return strconv.FormatFloat(float64(d)/secs, 'f', 1, 64)
}
