package integration

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// canaryRE finds a canary password in the runner's output; every secret
// below holds one.
var canaryRE = regexp.MustCompile(`SECRET\d+`)

// TestSecretsNeverPrinted runs the runner with a SQL source and a SQL sink
// on every DSN form, each password a canary, against the real PostgreSQL
// (a wrong password, a role that may not log in, a missing database, a
// password that makes the driver mis-read the host) and against a MySQL
// and a SQLite that are not there; then with SASL canaries against the
// real Kafka, which does not speak SASL. No line the runner prints, on
// stdout or stderr, may show a canary or a part of one.
//
// The shared PostgreSQL trusts every local connection, so a wrong password
// is accepted there; the fake server of connectors/sqldb's TestCanaryDSN
// covers a refused password.
func TestSecretsNeverPrinted(t *testing.T) {
	brokers := service.Kafka(t)
	pg, err := url.Parse(service.Postgres(t))
	if err != nil {
		t.Fatal(err)
	}
	db := openPostgres(t, pg.String())
	name := unique("secrets")
	role := "nologin_" + name[len("secrets-"):]
	if _, err := db.Exec(`CREATE ROLE ` + role + ` NOLOGIN`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = db.Exec(`DROP ROLE ` + role) })
	hostport, host, port := pg.Host, pg.Hostname(), pg.Port()
	dsns := []struct{ driver, dsn string }{
		{"postgres", "postgresql://postgres:PW@SECRET1@" + hostport + "/conveyor?sslmode=disable"},
		{"postgres", "postgres://postgres:SECRET2@" + hostport + "/conveyor?sslmode=disable"},
		{"postgres", "postgres://" + role + ":SECRET3@" + hostport + "/conveyor?sslmode=disable"},
		{"postgres", "host=" + host + " port=" + port + ` user=postgres password=PW\ SECRET4 dbname=nodb_` + role + " sslmode=disable"},
		{"postgres", "host=" + host + " port=" + port + ` user=postgres password='it''s SECRET5' dbname=conveyor sslmode=disable`},
		{"postgres", "postgres://postgres@" + hostport + "/conveyor?sslmode=disable&password=PW%20SECRET6"},
		{"mysql", "u:PW@SECRET7@tcp(127.0.0.1:1)/db?timeout=2s"},
		{"sqlite", "file:/nonexistent/dir/x.db?_auth_pass=SECRET8"},
	}
	dir := t.TempDir()
	for i, d := range dsns {
		p := fmt.Sprintf("%s-%d", name, i)
		kafkatest.CreateTopic(t, brokers, p+"-in", 1)
		kafkatest.Produce(t, brokers, []*kafka.Message{kafkatest.Message(p+"-in", nil, []byte(`{"id": 1}`))})
		cfg := filepath.Join(dir, p+".yaml")
		// The DSN comes from the environment, as it would in production;
		// the file has no secret.
		text := fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
cursor_topic: %[1]s-cursors
shutdown_timeout: 1s
sources:
  rows:
    sql: {driver: %[2]s, dsn: '${DSN}', table: missing_%[3]d, mode: incrementing, incrementing_column: id, poll_interval: 100ms}
    to: %[1]s-out
sinks:
  rows-db:
    from: %[1]s-in
    sql: {driver: %[2]s, dsn: '${DSN}', table: missing_%[3]d, mode: insert}
`, p, d.driver, i)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		out := runUntilLogged(t, cfg, []string{"KAFKA_BROKERS=" + brokers, "DSN=" + d.dsn}, "sql source poll failed", "sink write failed")
		if leak := canaryRE.FindString(out); leak != "" {
			t.Errorf("DSN %d (%s): %s shows in the runner's output:\n%s", i, d.driver, leak, out)
		}
	}

	// Kafka's side: SASL secrets against a broker without SASL, and an
	// OAUTHBEARER config librdkafka cannot parse and quotes back.
	for i, sasl := range []string{
		"{security.protocol: SASL_PLAINTEXT, sasl.mechanisms: PLAIN, sasl.username: admin, sasl.password: '${KAFKA_SECRET}'}",
		"{security.protocol: SASL_PLAINTEXT, sasl.mechanisms: OAUTHBEARER, enable.sasl.oauthbearer.unsecure.jwt: 'true', sasl.oauthbearer.config: '${KAFKA_SECRET}'}",
	} {
		cfg := filepath.Join(dir, fmt.Sprintf("%s-sasl-%d.yaml", name, i))
		text := fmt.Sprintf(`pipeline: %[1]s-sasl-%[2]d
kafka:
  brokers: '${KAFKA_BROKERS}'
  config: %[3]s
shutdown_timeout: 1s
sources:
  gen:
    generate: {value: '{"n": _offset}', rate: 10/s}
    to: %[1]s-sasl
`, name, i, sasl)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		secret := []string{"PW@SECRET9 x", "principal=admin clientSecret=SECRET10 bogus"}[i]
		// No topics to create: the source's producer meets the broker.
		out := runUntilLogged(t, cfg, []string{"KAFKA_BROKERS=" + brokers, "KAFKA_SECRET=" + secret}, "SASL")
		if leak := canaryRE.FindString(out); leak != "" {
			t.Errorf("SASL: %s shows in the runner's output:\n%s", leak, out)
		}
	}
}

// runUntilLogged runs the runner until it exits, or until its stderr has
// each of the texts (then it stops it with SIGTERM), and returns all it
// printed.
func runUntilLogged(t *testing.T, cfg string, env []string, texts ...string) string {
	t.Helper()
	p := runnertest.StartArgs(t, []string{"-c", cfg, "--log-level", "debug"}, env...)
	start := time.Now()
	defer func() { t.Logf("%s: %s", filepath.Base(cfg), time.Since(start)) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		if exited, _ := p.Wait(100 * time.Millisecond); exited {
			break
		}
		all := true
		for _, s := range texts {
			all = all && strings.Contains(p.Stderr.String(), s)
		}
		if all {
			_ = p.Term(t)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("runner printed none of %q within 60s:\n%s", texts, p.Stderr.String())
		}
	}
	return p.Stdout.String() + p.Stderr.String()
}
