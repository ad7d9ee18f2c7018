package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// broker is the Kafka the harness runs against: one it started with
// scripts/kafka.sh (stopped by stop), or an external one.
type broker struct {
	addr    string
	dir     string // KAFKA_DIR of a kafka.sh broker, when known
	script  string // set when the harness started it
	version string
}

// startBroker runs `kafka.sh up` for a single node. The script's watchdog
// (--owner-pid) stops the broker if the harness dies without stop.
func startBroker(ctx context.Context, script string, log io.Writer) (*broker, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute) // a first run fetches jars
	defer cancel()
	var out bytes.Buffer
	cmd := exec.CommandContext(ctx, script, "up", "--nodes", "1", "--owner-pid", strconv.Itoa(os.Getpid()))
	cmd.Stdout, cmd.Stderr = &out, log
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("start Kafka with %s up: %w", script, err)
	}
	vars := parseKeyValues(out.String())
	b := &broker{addr: vars["KAFKA_BROKERS"], dir: vars["KAFKA_DIR"], script: script}
	if b.addr == "" || b.dir == "" {
		return nil, fmt.Errorf("%s up printed no KAFKA_BROKERS/KAFKA_DIR:\n%s", script, out.String())
	}
	b.version = stateVersion(b.dir)
	return b, nil
}

// externalBroker describes a broker the harness did not start; KAFKA_DIR,
// when set, tells its version.
func externalBroker(addr string) *broker {
	b := &broker{addr: addr, dir: os.Getenv("KAFKA_DIR")}
	b.version = stateVersion(b.dir)
	return b
}

// stop stops a broker the harness started; others are left running.
func (b *broker) stop(log io.Writer) error {
	if b.script == "" {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, b.script, "down", "--dir", b.dir)
	cmd.Stdout, cmd.Stderr = log, log
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("stop Kafka in %s: %w", b.dir, err)
	}
	return nil
}

// stateVersion reads the Kafka version from a kafka.sh state file.
func stateVersion(dir string) string {
	if dir == "" {
		return "unknown (external broker)"
	}
	data, err := os.ReadFile(filepath.Join(dir, "state"))
	if err != nil {
		return "unknown (external broker)"
	}
	if v := parseKeyValues(string(data))["version"]; v != "" {
		return "Apache Kafka " + v + " (KRaft, single node, scripts/kafka.sh)"
	}
	return "unknown"
}

// parseKeyValues reads KEY=value lines.
func parseKeyValues(text string) map[string]string {
	out := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			out[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return out
}
