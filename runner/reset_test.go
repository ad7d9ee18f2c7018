package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"
)

// TestResetCommand: runner reset names what it deleted, and refuses a
// stage it cannot reset with the reason and a usage status.
func TestResetCommand(t *testing.T) {
	t.Setenv("REWARDS_DSN", "file:"+filepath.Join(t.TempDir(), "rewards.db"))
	t.Setenv("KAFKA_BROKERS", "")
	for _, c := range []struct {
		stage string
		code  int
		want  string
	}{
		{"realtime-db", exitOK, "sink realtime-db: deleted 0 stored offset(s) of group user-rewards.realtime-db for user-rewards-realtime from table conveyor_offsets"},
		{"user-rewards/realtime-db", exitOK, "sink realtime-db: deleted 0 stored offset(s)"},
		{"rewards", exitOK, "source rewards: its cursor lived in the embedded broker, which keeps nothing between runs: nothing to reset"},
		{"balance", exitUsage, "runner reset: cannot reset: transform balance keeps its position in Kafka's consumer group user-rewards.balance only"},
		{"nope", exitUsage, `runner reset: cannot reset: no stage "nope" in these files; they have user-rewards/rewards, `},
		{"other/rewards", exitUsage, `no stage "other/rewards"`},
	} {
		var stdout, stderr bytes.Buffer
		code := run([]string{"reset", "-c", "../configs/user-rewards.yaml", "--stage", c.stage}, &stdout, &stderr)
		if code != c.code || !strings.Contains(stdout.String()+stderr.String(), c.want) {
			t.Errorf("reset --stage %s: exit %d, want %d, with %q in\n%s%s", c.stage, code, c.code, c.want, stdout.String(), stderr.String())
		}
	}
}
