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

// KafkaJava runs Java against Kafka's jars (its tools, its client), a
// class of them or a source file (name.java, run by the source launcher),
// with stdin as standard input, through scripts/kafka.sh run-class, and
// returns its standard output. The test fails when it cannot run.
func KafkaJava(t testing.TB, stdin string, classOrFile string, args ...string) string {
	t.Helper()
	script, err := scriptPath("kafka.sh")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script, "run-class", classOrFile}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdin, cmd.Stdout, cmd.Stderr = strings.NewReader(stdin), &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("kafka.sh run-class %s: %v\n%s", classOrFile, err, tail(stderr.String(), 30))
	}
	return stdout.String()
}

// GroupLag is what Kafka's own consumer group tool (kafka-consumer-groups.sh
// --describe) reports as the lag of each partition of group, keyed
// "topic[partition]"; -1 where it shows "-".
func GroupLag(t testing.TB, brokers, group string) map[string]int64 {
	t.Helper()
	out := KafkaJava(t, "", "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", "--bootstrap-server", brokers, "--describe", "--group", group)
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
