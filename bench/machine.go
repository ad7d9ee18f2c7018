package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// environment is where and with what the numbers were measured.
type environment struct {
	cpus       int
	cpuModel   string
	memory     string
	kernel     string
	goVersion  string
	librdkafka string
	kafka      string
	registry   string // the Avro variants' schema registry; empty when none ran
	runner     string
}

func describeEnvironment(ctx context.Context, runner string, b *broker) environment {
	_, rdk := kafka.LibraryVersion()
	return environment{
		cpus:       runtime.NumCPU(),
		cpuModel:   cpuModel(),
		memory:     memTotal(),
		kernel:     kernelRelease(),
		goVersion:  runtime.Version(),
		librdkafka: rdk + " (bundled with confluent-kafka-go, statically linked)",
		kafka:      b.version,
		runner:     runnerVersion(ctx, runner),
	}
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown"
}

// memTotal is MemTotal of /proc/meminfo in GiB.
func memTotal() string {
	f, err := os.Open("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) >= 2 && fields[0] == "MemTotal:" {
			kib, err := strconv.ParseFloat(fields[1], 64)
			if err != nil {
				return "unknown"
			}
			return fmt.Sprintf("%.1f GiB", kib/(1<<20))
		}
	}
	return "unknown"
}

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "unknown"
	}
	return "Linux " + strings.TrimSpace(string(b))
}

func runnerVersion(ctx context.Context, runner string) string {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, runner, "version").Output()
	if err != nil {
		return "unknown"
	}
	return strings.TrimSpace(string(out))
}
