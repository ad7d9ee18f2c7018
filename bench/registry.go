package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// schemaRegistry is the registry the Avro variants run against: one the
// harness started with scripts/registry.sh (stopped by stop), or an
// external one. The runner is a separate process, so an in-process mock://
// registry cannot serve.
type schemaRegistry struct {
	url     string
	dir     string // REGISTRY_DIR of a registry.sh registry
	script  string // set when the harness started it
	version string
}

// startRegistry runs `registry.sh up`; its watchdog (--owner-pid) stops the
// registry if the harness dies without stop.
func startRegistry(ctx context.Context, script string, log io.Writer) (*schemaRegistry, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // a first run fetches the app
	defer cancel()
	var out, errOut bytes.Buffer
	cmd := exec.CommandContext(ctx, script, "up", "--owner-pid", strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = &out, io.MultiWriter(log, &errOut)
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("start a schema registry with %s up: %w", script, err)
	}
	vars := parseKeyValues(out.String())
	r := &schemaRegistry{url: vars["REGISTRY_URL"], dir: vars["REGISTRY_DIR"], script: script}
	if r.url == "" || r.dir == "" {
		return nil, fmt.Errorf("%s up printed no REGISTRY_URL/REGISTRY_DIR:\n%s", script, out.String())
	}
	r.version = registryVersion(errOut.String())
	fmt.Fprintf(log, "schema registry up in %.1fs\n", time.Since(t0).Seconds())
	return r, nil
}

// registryVersion reads what registry.sh says it started.
func registryVersion(log string) string {
	if m := regexp.MustCompile(`(Apicurio Registry \S+) up`).FindStringSubmatch(log); m != nil {
		return m[1] + " (in memory, scripts/registry.sh)"
	}
	return "unknown (scripts/registry.sh)"
}

// externalRegistry is a registry the harness did not start.
func externalRegistry(addr string) *schemaRegistry {
	return &schemaRegistry{url: addr, version: "external (" + redactURL(addr) + ")"}
}

// stop stops a registry the harness started; others are left running.
func (r *schemaRegistry) stop(log io.Writer) error {
	if r == nil || r.script == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, r.script, "down", "--dir", r.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stop the schema registry in %s: %w", r.dir, err)
	}
	return nil
}

// redactURL drops passwords from a URL, or from a comma-separated list of
// them (as the registry client takes), for the report and errors.
func redactURL(s string) string {
	parts := strings.Split(s, ",")
	for i, p := range parts {
		u, err := url.Parse(strings.TrimSpace(p))
		if err != nil {
			parts[i] = "(unparsable URL)"
			continue
		}
		parts[i] = u.Redacted()
	}
	return strings.Join(parts, ",")
}

// redactArgs is argv with passwords dropped from URLs (-registry
// http://user:pass@host), for the report's command line.
func redactArgs(args []string) []string {
	out := make([]string, len(args))
	for i, a := range args {
		switch k, v, ok := strings.Cut(a, "="); {
		case ok && strings.HasPrefix(k, "-") && strings.Contains(v, "://"):
			out[i] = k + "=" + redactURL(v)
		case strings.Contains(a, "://"):
			out[i] = redactURL(a)
		default:
			out[i] = a
		}
	}
	return out
}
