package service

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// KafkaClass runs a class from Kafka's jars (its tools, its client) with
// the machine's Java, through scripts/kafka.sh run-class, and returns its
// standard output. The test fails when it cannot run.
func KafkaClass(t testing.TB, class string, args ...string) string {
	t.Helper()
	script, err := scriptPath("kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script, "run-class", class}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka.sh run-class %s: %v\n%s", class, err, tail(stderr.String(), 30))
	}
	return stdout.String()
}

// GroupLag is what Kafka's own consumer group tool (kafka-consumer-groups.sh
// --describe) reports as the lag of each partition of group, keyed
// "topic[partition]"; -1 where it shows "-".
func GroupLag(t testing.TB, brokers, group string) map[string]int64 {
	t.Helper()
	out := KafkaClass(t, "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", brokers, "--describe", "--group", group)
	lag := map[string]int64{}
	for _, line := range strings.Split(out, "\n") {
		f := strings.Fields(line)
		if len(f) < 6 || f[0] != group {
			continue
		}
		l, err := strconv.ParseInt(f[5], 10, 64)
		if err != nil {
			l = -1
		}
		lag[fmt.Sprintf("%s[%s]", f[1], f[2])] = l
	}
	return lag
}
