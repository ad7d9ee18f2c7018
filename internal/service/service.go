// Package service gives integration tests real backing services: an Apache
// Kafka 4.x broker, a three-node Kafka cluster for broker fault tests, a
// throwaway PostgreSQL and MariaDB, a Confluent-compatible schema registry
// (Apicurio Registry) and a single-node OpenSearch. They run as plain local
// processes started by scripts/kafka.sh, postgres.sh, mariadb.sh,
// registry.sh and opensearch.sh (no Docker); the Kafka jars, the registry
// and OpenSearch's jars are fetched from Maven Central once and cached.
// PyClient gives the Python venv of the interop tests' client
// (Confluent's confluent-kafka), made once by scripts/pyclient.sh.
//
// Use it from a package's TestMain, so what the tests started is stopped
// when they end:
//
//	func TestMain(m *testing.M) { os.Exit(service.Main(m)) }
//
// and in a test:
//
//	brokers := service.Kafka(t)    // "127.0.0.1:port"
//	other := service.SecondKafka(t) // another single-node cluster
//	dsn := service.Postgres(t)     // "postgres://postgres@127.0.0.1:port/conveyor?sslmode=disable"
//	c := service.KafkaCluster(t)   // three nodes; c.KillNode(id), c.StartNode(id), c.Leader(...)
//	url := service.Registry(t)     // "http://127.0.0.1:port/apis/ccompat/v7"
//	py := service.PyClient(t)      // a python with confluent-kafka[avro]
//	search := service.OpenSearch(t) // "http://127.0.0.1:port"; RestartOpenSearch(t) restarts it
//
// Each service starts at most once per test binary, on first use, and is
// shared by that binary's tests: a broker takes seconds to start, a test
// takes milliseconds. Tests that share one must use their own topics,
// consumer groups and tables. The scripts also get the test binary's pid and
// stop the services by themselves about a second after it exits, so a
// crashed or timed-out binary (or a package without Main) leaks nothing.
//
// When a service cannot start (no Java, no PostgreSQL, no network for the
// first fetch, ...), the test is skipped with the reason, or fails with it
// and the logs' tails when CI is "true". It never passes silently.
//
// Environment:
//
//	KAFKA_BROKERS      use this bootstrap address instead of starting a broker
//	KAFKA_BROKERS_2    SecondKafka: use this bootstrap address (of another
//	                   cluster than KAFKA_BROKERS) instead of starting a broker
//	KAFKA_CLUSTER_DIR  use the three-node cluster that `scripts/kafka.sh up --nodes 3
//	                   --dir DIR` started there, instead of starting one (not stopped)
//	CONVEYOR_PG_DSN    use this PostgreSQL DSN instead of starting a server
//	CONVEYOR_MYSQL_DSN use this MySQL/MariaDB DSN instead of starting a MariaDB
//	CONVEYOR_REGISTRY_URL use this schema registry (its Confluent API's base URL)
//	                   instead of starting one
//	CONVEYOR_OPENSEARCH_URL use this OpenSearch (its base URL) instead of
//	                   starting a node
//	OPENSEARCH_DIR     with CONVEYOR_OPENSEARCH_URL: the folder of a
//	                   `scripts/opensearch.sh up` node, so that RestartOpenSearch
//	                   can restart it
//	CONVEYOR_PYCLIENT  use this python (with confluent-kafka[avro]) instead of
//	                   scripts/pyclient.sh's venv
//	PG_DIR             with CONVEYOR_PG_DSN: the folder of a `scripts/postgres.sh up`
//	                   server, so that RestartPostgres can restart it
//	CI                 "true": a service that cannot start fails the test
//	CONVEYOR_CACHE     where the scripts cache Kafka's jars, the registry,
//	                   OpenSearch's build and the venv (default ~/.cache/conveyor)
package service

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Timeouts for the scripts. A first Kafka start may fetch jars and build a
// class-data archive; later ones take seconds.
const (
	upTimeout   = 5 * time.Minute
	nodeTimeout = 2 * time.Minute
	downTimeout = time.Minute
)

var errShutdown = errors.New("service: Shutdown already ran in this test binary")

// lazy holds one service of this test binary. These package variables are
// the only mutable globals: the services are per process by design (the
// point is to start each once and share it), and sync.Once orders every
// read after the start.
type lazy[T any] struct {
	once     sync.Once
	val      T
	err      error
	started  bool
	stopOnce sync.Once
}

func (l *lazy[T]) get(start func() (T, error)) (T, error) {
	l.once.Do(func() {
		l.val, l.err = start()
		l.started = l.err == nil
	})
	return l.val, l.err
}

// stop runs fn on the started service, once; it also keeps a later get
// from starting one after Shutdown.
func (l *lazy[T]) stop(fn func(T) error) error {
	l.once.Do(func() { l.err = errShutdown })
	var err error
	l.stopOnce.Do(func() {
		if l.started {
			err = fn(l.val)
		}
	})
	return err
}

var (
	kafkaOne   lazy[*proc]
	kafkaTwo   lazy[*proc]
	kafkaThree lazy[*Cluster]
	pg         lazy[*proc]
	maria      lazy[*proc]
	registry   lazy[*proc]
	search     lazy[*searchNode]
	pyClient   lazy[string]
)

// proc is a service started by one of the scripts.
type proc struct {
	script string // absolute path of scripts/kafka.sh or postgres.sh
	dir    string // its state folder (KAFKA_DIR, PG_DIR)
	addr   string // bootstrap servers or DSN
	owned  bool   // started by us: Shutdown stops it
}

func (p *proc) down() error {
	if !p.owned {
		return nil
	}
	_, err := runScript(downTimeout, p.script, "down", "--dir", p.dir)
	return err
}

// Main runs the tests, then stops the services they started. A failure to
// stop them fails an otherwise passing run, since it leaks processes.
func Main(m *testing.M) int {
	code := m.Run()
	if err := Shutdown(); err != nil {
		fmt.Fprintln(os.Stderr, err)
		if code == 0 {
			code = 1
		}
	}
	return code
}

// Shutdown stops every service this test binary started; later requests
// for a service fail. Main calls it; call it yourself from a TestMain that
// cannot use Main.
func Shutdown() error {
	stopProc := func(p *proc) error { return p.down() }
	return errors.Join(
		kafkaOne.stop(stopProc),
		kafkaTwo.stop(stopProc),
		kafkaThree.stop(func(c *Cluster) error { return c.p.down() }),
		pg.stop(stopProc),
		maria.stop(stopProc),
		registry.stop(stopProc),
		search.stop(func(n *searchNode) error {
			n.mu.Lock() // not in the middle of a restart
			defer n.mu.Unlock()
			return n.p.down()
		}),
	)
}

// Kafka returns the bootstrap address of a single-node Kafka broker shared
// by the test binary: KAFKA_BROKERS if set, else one it starts.
func Kafka(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("KAFKA_BROKERS"); b != "" {
		return b
	}
	p, err := kafkaOne.get(func() (*proc, error) { return startKafka(1) })
	if err != nil {
		unavailable(t, "Kafka broker", err)
	}
	return p.addr
}

// SecondKafka returns the bootstrap address of another single-node Kafka
// broker, a cluster of its own beside Kafka's, for tests of what moves
// records between clusters: KAFKA_BROKERS_2 if set, else one it starts
// (once per test binary).
func SecondKafka(t testing.TB) string {
	t.Helper()
	if b := os.Getenv("KAFKA_BROKERS_2"); b != "" {
		return b
	}
	p, err := kafkaTwo.get(func() (*proc, error) { return startKafka(1) })
	if err != nil {
		unavailable(t, "second Kafka broker", err)
	}
	return p.addr
}

func startKafka(nodes int) (*proc, error) {
	script, err := scriptPath("kafka.sh")
	if err != nil {
		return nil, err
	}
	out, err := runScript(upTimeout, script, "up", "--nodes", strconv.Itoa(nodes),
		"--owner-pid", strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, err
	}
	p := &proc{script: script, dir: out["KAFKA_DIR"], addr: out["KAFKA_BROKERS"], owned: true}
	if p.dir == "" || p.addr == "" {
		return nil, fmt.Errorf("%s up printed no KAFKA_DIR/KAFKA_BROKERS", script)
	}
	return p, nil
}

// Cluster is a three-node Kafka cluster (each node both broker and KRaft
// controller; node ids 1, 2, 3) with replication factor 3 and
// min.insync.replicas 2 by default, so a topic stays writable with acks=all
// while any one node is down. Tests that kill nodes should restart them
// before they end (t.Cleanup), and not run in parallel with other tests on
// the same cluster.
type Cluster struct {
	p  *proc
	mu sync.Mutex // one node operation at a time
}

// KafkaCluster returns the test binary's three-node cluster, starting it on
// first use (or the one in KAFKA_CLUSTER_DIR).
func KafkaCluster(t testing.TB) *Cluster {
	t.Helper()
	c, err := kafkaThree.get(func() (*Cluster, error) {
		if dir := os.Getenv("KAFKA_CLUSTER_DIR"); dir != "" {
			return clusterFromDir(dir)
		}
		p, err := startKafka(3)
		if err != nil {
			return nil, err
		}
		return &Cluster{p: p}, nil
	})
	if err != nil {
		unavailable(t, "three-node Kafka cluster", err)
	}
	return c
}

func clusterFromDir(dir string) (*Cluster, error) {
	script, err := scriptPath("kafka.sh")
	if err != nil {
		return nil, err
	}
	state, err := readState(filepath.Join(dir, "state"))
	if err != nil {
		return nil, fmt.Errorf("KAFKA_CLUSTER_DIR: %w", err)
	}
	if state["nodes"] != "3" || state["brokers"] == "" {
		return nil, fmt.Errorf("KAFKA_CLUSTER_DIR=%s: not a three-node cluster (nodes=%q)", dir, state["nodes"])
	}
	return &Cluster{p: &proc{script: script, dir: dir, addr: state["brokers"]}}, nil
}

// Brokers is the bootstrap address list of all three nodes.
func (c *Cluster) Brokers() string { return c.p.addr }

// KillNode SIGKILLs node id (1..3): no controlled shutdown, as in a crash.
func (c *Cluster) KillNode(id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := runScript(nodeTimeout, c.p.script, "kill-node", "--dir", c.p.dir, strconv.Itoa(int(id)))
	return err
}

// StartNode starts node id again with its config and data, and returns once
// the cluster lists it as a live broker again.
func (c *Cluster) StartNode(id int32) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := runScript(nodeTimeout, c.p.script, "start-node", "--dir", c.p.dir, strconv.Itoa(int(id)))
	return err
}

// Leader returns the node id leading topic's partition, as the cluster's
// metadata tells now, or -1 while the partition has no leader (between a
// leader's death and the election of the next).
func (c *Cluster) Leader(topic string, partition int32) (int32, error) {
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{
		"bootstrap.servers":   c.p.addr,
		"enable.metrics.push": false,
		// A killed node in the bootstrap list is expected: don't log it.
		"log_level": 2,
	})
	if err != nil {
		return -1, fmt.Errorf("leader of %s/%d: admin client: %w", topic, partition, err)
	}
	defer admin.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	res, err := admin.DescribeTopics(ctx, kafka.NewTopicCollectionOfTopicNames([]string{topic}))
	if err != nil {
		return -1, fmt.Errorf("leader of %s/%d: describe topic: %w", topic, partition, err)
	}
	for _, td := range res.TopicDescriptions {
		if td.Error.Code() != kafka.ErrNoError {
			return -1, fmt.Errorf("leader of %s/%d: %w", topic, partition, td.Error)
		}
		for _, p := range td.Partitions {
			if p.Partition != int(partition) {
				continue
			}
			if p.Leader == nil {
				return -1, nil
			}
			return int32(p.Leader.ID), nil
		}
	}
	return -1, fmt.Errorf("leader of %s/%d: no such partition", topic, partition)
}

// Postgres returns the DSN of a PostgreSQL database `conveyor` shared by the
// test binary: CONVEYOR_PG_DSN if set, else a server it starts.
func Postgres(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv("CONVEYOR_PG_DSN"); dsn != "" {
		return dsn
	}
	return startedPostgres(t).addr
}

func startedPostgres(t testing.TB) *proc {
	t.Helper()
	p, err := pg.get(startPostgres)
	if err != nil {
		unavailable(t, "PostgreSQL", err)
	}
	return p
}

func startPostgres() (*proc, error) {
	script, err := scriptPath("postgres.sh")
	if err != nil {
		return nil, err
	}
	out, err := runScript(upTimeout, script, "up", "--owner-pid", strconv.Itoa(os.Getpid()))
	if err != nil {
		return nil, err
	}
	p := &proc{script: script, dir: out["PG_DIR"], addr: out["CONVEYOR_PG_DSN"], owned: true}
	if p.dir == "" || p.addr == "" {
		return nil, fmt.Errorf("%s up printed no PG_DIR/CONVEYOR_PG_DSN", script)
	}
	return p, nil
}

// MySQL returns the DSN of a MariaDB database `conveyor` shared by the test
// binary: CONVEYOR_MYSQL_DSN if set, else a server scripts/mariadb.sh starts.
func MySQL(t testing.TB) string {
	t.Helper()
	if dsn := os.Getenv("CONVEYOR_MYSQL_DSN"); dsn != "" {
		return dsn
	}
	p, err := maria.get(func() (*proc, error) {
		script, err := scriptPath("mariadb.sh")
		if err != nil {
			return nil, err
		}
		out, err := runScript(upTimeout, script, "up", "--owner-pid", strconv.Itoa(os.Getpid()))
		if err != nil {
			return nil, err
		}
		p := &proc{script: script, dir: out["MYSQL_DIR"], addr: strings.Trim(out["CONVEYOR_MYSQL_DSN"], "'"), owned: true}
		if p.dir == "" || p.addr == "" {
			return nil, fmt.Errorf("%s up printed no MYSQL_DIR/CONVEYOR_MYSQL_DSN", script)
		}
		return p, nil
	})
	if err != nil {
		unavailable(t, "MariaDB", err)
	}
	return p.addr
}

// Registry returns the base URL of the Confluent-compatible REST API
// (…/apis/ccompat/v7) of a schema registry shared by the test binary:
// CONVEYOR_REGISTRY_URL if set, else an in-memory Apicurio Registry that
// scripts/registry.sh starts. Tests that share it must use their own
// subjects. Unlike Confluent's, its default compatibility is NONE.
func Registry(t testing.TB) string {
	t.Helper()
	if u := os.Getenv("CONVEYOR_REGISTRY_URL"); u != "" {
		return u
	}
	p, err := registry.get(func() (*proc, error) {
		script, err := scriptPath("registry.sh")
		if err != nil {
			return nil, err
		}
		out, err := runScript(upTimeout, script, "up", "--owner-pid", strconv.Itoa(os.Getpid()))
		if err != nil {
			return nil, err
		}
		p := &proc{script: script, dir: out["REGISTRY_DIR"], addr: out["REGISTRY_URL"], owned: true}
		if p.dir == "" || p.addr == "" {
			return nil, fmt.Errorf("%s up printed no REGISTRY_DIR/REGISTRY_URL", script)
		}
		return p, nil
	})
	if err != nil {
		unavailable(t, "schema registry", err)
	}
	return p.addr
}

// PyClient returns the python of a venv with Confluent's Python client
// (confluent-kafka[avro], pinned in integration/testdata/interop), for the
// interop tests' avro_client.py: CONVEYOR_PYCLIENT if set, else the venv
// scripts/pyclient.sh makes once and caches.
func PyClient(t testing.TB) string {
	t.Helper()
	if py := os.Getenv("CONVEYOR_PYCLIENT"); py != "" {
		return py
	}
	py, err := pyClient.get(func() (string, error) {
		script, err := scriptPath("pyclient.sh")
		if err != nil {
			return "", err
		}
		out, err := runScript(upTimeout, script)
		if err != nil {
			return "", err
		}
		if out["PYCLIENT"] == "" {
			return "", fmt.Errorf("%s printed no PYCLIENT", script)
		}
		return out["PYCLIENT"], nil
	})
	if err != nil {
		unavailable(t, "Python interop client", err)
	}
	return py
}

// RestartPostgres crash-stops the server (pg_ctl stop -m immediate) and
// starts it again on the same port, for fault tests; open connections break.
// It skips the test when the server is an external one (CONVEYOR_PG_DSN
// without PG_DIR), which it cannot restart.
func RestartPostgres(t testing.TB) {
	t.Helper()
	var dir, script string
	if os.Getenv("CONVEYOR_PG_DSN") != "" {
		dir = os.Getenv("PG_DIR")
		if dir == "" {
			t.Skip("RestartPostgres: CONVEYOR_PG_DSN is an external server; set PG_DIR to its scripts/postgres.sh folder to restart it")
		}
		var err error
		if script, err = scriptPath("postgres.sh"); err != nil {
			t.Fatalf("RestartPostgres: %v", err)
		}
	} else {
		p := startedPostgres(t)
		dir, script = p.dir, p.script
	}
	if _, err := runScript(nodeTimeout, script, "restart", "--dir", dir); err != nil {
		t.Fatalf("RestartPostgres: %v", err)
	}
}

// unavailable skips the test, or fails it in CI, where every service must run.
func unavailable(t testing.TB, what string, err error) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s could not start: %v", what, err)
	}
	t.Skipf("%s could not start (set CI=true to fail instead): %v", what, err)
}

// scriptPath finds scripts/NAME in the module root: the first folder up
// from the working directory (a test's package folder) with go.mod.
func scriptPath(name string) (string, error) {
	wd, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("finding scripts/%s: %w", name, err)
	}
	for dir := wd; ; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			s := filepath.Join(dir, "scripts", name)
			if _, err := os.Stat(s); err != nil {
				return "", fmt.Errorf("module root %s has no scripts/%s: %w", dir, name, err)
			}
			return s, nil
		}
		if filepath.Dir(dir) == dir {
			return "", fmt.Errorf("no go.mod above %s, so no scripts/%s", wd, name)
		}
	}
}

// runScript runs a script with bash and returns the KEY=VALUE lines of its
// stdout; on failure the error carries the tail of its stderr, where the
// scripts print the services' log tails.
func runScript(timeout time.Duration, script string, args ...string) (map[string]string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", append([]string{script}, args...)...)
	// SIGTERM first: the scripts then stop what they had started.
	cmd.Cancel = func() error { return cmd.Process.Signal(syscall.SIGTERM) }
	cmd.WaitDelay = 30 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	what := filepath.Base(script) + " " + strings.Join(args, " ")
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			err = fmt.Errorf("timed out after %v", timeout)
		}
		return nil, fmt.Errorf("%s: %v\n%s", what, err, tail(stderr.String(), 60))
	}
	return parseKV(stdout.String()), nil
}

func readState(path string) (map[string]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return parseKV(string(b)), nil
}

func parseKV(s string) map[string]string {
	kv := map[string]string{}
	sc := bufio.NewScanner(strings.NewReader(s))
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), "="); ok {
			kv[k] = v
		}
	}
	return kv
}

func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = append([]string{"..."}, lines[len(lines)-n:]...)
	}
	return strings.Join(lines, "\n")
}
