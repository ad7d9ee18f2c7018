package integration

import (
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	json "github.com/goccy/go-json"
	"github.com/jmoiron/sqlx"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// TestUserRewards is the proof of the user-rewards scenario: the
// loyalty app (configs/user-rewards-app.yaml) posts transactions into
// PostgreSQL while configs/user-rewards.yaml streams them through Kafka into
// user_rewards_realtime, and the streaming runner is SIGKILLed three times
// on the way. Once the app stops and the pipeline catches up, the batch
// computation over the raw tables must equal the streamed table for every
// user: a crash that counted a transaction twice, or lost one, shows.
//
// The Avro run is the same with every topic in Avro through a real schema
// registry (Apicurio), as in the talk's stack.
func TestUserRewards(t *testing.T) {
	t.Run("json", func(t *testing.T) { testUserRewards(t, "json") })
	t.Run("avro", func(t *testing.T) { testUserRewards(t, "avro") })
}

func testUserRewards(t *testing.T, format string) {
	brokers := service.Kafka(t)
	registry := "mock://user-rewards"
	if format == "avro" {
		registry = service.Registry(t)
	}
	dsn := service.Postgres(t)
	db := openPostgres(t, dsn)
	search := strings.TrimRight(service.OpenSearch(t), "/")
	index := "user-rewards-realtime-" + format
	deleteIndex(t, search, index)
	for _, table := range []string{"user_rewards", "user_rewards_transactions", "user_rewards_realtime", "conveyor_offsets"} {
		if _, err := db.Exec("DROP TABLE IF EXISTS " + table); err != nil {
			t.Fatal(err)
		}
	}
	// The pipelines use fixed names: start from nothing on a broker that
	// ran this before (a rerun, -count).
	kafkatest.Forget(t, brokers,
		[]string{"user-rewards", "user-rewards-transactions", "user-balance", "user-redeemed", "user-rewards-realtime",
			"user-rewards-balance-changelog", "user-rewards-redeemed-changelog", "conveyor-cursors",
			"user-rewards-app-users", "user-rewards-app-transactions"},
		[]string{"user-rewards.balance", "user-rewards.redeemed", "user-rewards.realtime", "user-rewards.realtime-db", "user-rewards-search.realtime-search",
			"user-rewards-app.users-db", "user-rewards-app.transactions-db"})
	_, file, _, _ := runtime.Caller(0)
	configs := filepath.Join(filepath.Dir(file), "..", "configs")
	env := []string{"KAFKA_BROKERS=" + brokers, "REWARDS_DRIVER=postgres", "REWARDS_DSN=" + dsn,
		"REWARDS_TX_RATE=40/s", "REWARDS_SESSION_TIMEOUT_MS=6000", "REWARDS_FORMAT=" + format, "REWARDS_REGISTRY=" + registry,
		"REWARDS_OPENSEARCH_URL=" + search, "REWARDS_INDEX=" + index}
	app := runnertest.Start(t, filepath.Join(configs, "user-rewards-app.yaml"), env...)
	stream := runnertest.Start(t, filepath.Join(configs, "user-rewards.yaml"), env...)
	streams := []*runnertest.Proc{stream}
	// The second sink, the index, runs in its own process (its own file)
	// and is SIGKILLed with the stream each time.
	indexer := runnertest.Start(t, filepath.Join(configs, "user-rewards-search.yaml"), env...)
	if !waitUntil(60*time.Second, func() bool { return countRows(db, "user_rewards_realtime") >= 9 }) {
		t.Fatalf("the realtime table never had nine users; stream stderr:\n%s", stream.Stderr.String())
	}
	const kills = 3
	for k := range kills {
		// Kill a runner that is working: its three stateful stages have
		// restored their state and had more transactions since.
		if !waitUntil(60*time.Second, func() bool { return strings.Count(stream.Stderr.String(), "state restored") >= 3 }) {
			t.Fatalf("runner %d never restored its three stateful stages; stderr:\n%s", k+1, stream.Stderr.String())
		}
		before := countRows(db, "user_rewards_transactions")
		waitUntil(30*time.Second, func() bool { return countRows(db, "user_rewards_transactions") >= before+60 })
		stream.Kill(t)
		indexer.Kill(t)
		t.Logf("kill %d: %d transactions posted so far", k+1, countRows(db, "user_rewards_transactions"))
		stream = runnertest.Start(t, filepath.Join(configs, "user-rewards.yaml"), env...)
		indexer = runnertest.Start(t, filepath.Join(configs, "user-rewards-search.yaml"), env...)
		streams = append(streams, stream)
	}
	waitUntil(60*time.Second, func() bool { return strings.Count(stream.Stderr.String(), "state restored") >= 3 })
	if err := app.Term(t); err != nil {
		t.Errorf("app exit: %v\n%s", err, app.Stderr.String())
	}
	posted := countRows(db, "user_rewards_transactions")
	var diff []string
	caughtUp := waitUntil(120*time.Second, func() bool {
		diff = compareRewards(t, db)
		return len(diff) == 0
	})
	var indexDiff []string
	indexed := caughtUp && waitUntil(120*time.Second, func() bool {
		indexDiff = compareRewardsIndex(t, db, search, index)
		return len(indexDiff) == 0
	})
	if err := stream.Term(t); err != nil {
		t.Errorf("stream exit: %v\n%s", err, stream.Stderr.String())
	}
	if err := indexer.Term(t); err != nil {
		t.Errorf("indexer exit: %v\n%s", err, indexer.Stderr.String())
	}
	if !caughtUp {
		ids := map[string]bool{}
		for _, m := range kafkatest.ReadAll(t, brokers, "user-rewards-transactions", 30*time.Second) {
			var v struct{ ID json.RawMessage }
			if json.Unmarshal(m.Value, &v) == nil {
				ids[string(v.ID)] = true
			}
		}
		t.Logf("topic user-rewards-transactions holds %d distinct transactions of %d posted", len(ids), posted)
		for i, p := range streams {
			t.Logf("streaming runner %d: aborts, failures and restores:\n%s", i+1, grepLines(p.Stderr.String(), "abort", "fenced", "failed", "error", "restored"))
		}
		t.Fatalf("after %d transactions and %d kills, the streamed table differs from the batch computation:\n%s\nstream stderr:\n%s",
			posted, kills, strings.Join(diff, "\n"), lastLines(stream.Stderr.String(), 40))
	}
	if !indexed {
		t.Fatalf("after %d transactions and %d kills, the index %s differs from the batch computation:\n%s\nindexer stderr:\n%s",
			posted, kills, index, strings.Join(indexDiff, "\n"), lastLines(indexer.Stderr.String(), 40))
	}
	if format == "avro" {
		// The topics really hold Avro: the wire format's magic byte and a
		// schema id the registry knows, decoding to the schema's fields.
		for _, topic := range []string{"user-rewards", "user-rewards-transactions", "user-balance", "user-redeemed", "user-rewards-realtime"} {
			var msgs []*kafka.Message
			for _, m := range kafkatest.ReadAll(t, brokers, topic, 30*time.Second) {
				if m.Value != nil { // a table's tombstone has no value
					msgs = append(msgs, m)
					break
				}
			}
			if len(msgs) == 0 {
				t.Fatalf("topic %s holds no values", topic)
			}
			if len(msgs[0].Value) < 5 || msgs[0].Value[0] != 0 {
				t.Fatalf("topic %s: value %q is not in the Confluent wire format", topic, msgs[0].Value)
			}
			t.Logf("topic %s: %v", topic, avroValues(t, registry, msgs)[0])
		}
	}
	t.Logf("user rewards (%s): %d transactions, %d SIGKILLs of the streaming runner; user_rewards_realtime and the index %s equal the batch computation for all 9 users", format, posted, kills, index)
}

// rewardsRow is one user's rewards, computed in batch or streamed.
type rewardsRow struct {
	UserID   string `db:"user_id" json:"-"`
	Balance  int64  `db:"point_balance" json:"point_balance"`
	Redeemed int64  `db:"points_redeemed" json:"points_redeemed"`
	Count    int64  `db:"transactions" json:"transactions"`
}

// batchRewards computes each user's rewards from the raw tables.
func batchRewards(db *sqlx.DB) ([]rewardsRow, error) {
	var batch []rewardsRow
	err := db.Select(&batch, `SELECT r.user_id::text AS user_id,
	        r.point_balance + COALESCE(SUM(t.points), 0) AS point_balance,
	        r.points_redeemed + COALESCE(SUM(-t.points) FILTER (WHERE t.points < 0), 0) AS points_redeemed,
	        COUNT(t.id) AS transactions
	    FROM user_rewards r LEFT JOIN user_rewards_transactions t ON t.user_id = r.user_id
	    GROUP BY r.user_id, r.point_balance, r.points_redeemed ORDER BY 1`)
	return batch, err
}

// compareRewards lists where user_rewards_realtime differs from the batch
// computation over the raw tables.
func compareRewards(t *testing.T, db *sqlx.DB) []string {
	t.Helper()
	batch, err := batchRewards(db)
	if err != nil {
		return []string{"batch query: " + err.Error()}
	}
	var streamed []rewardsRow
	if err := db.Select(&streamed, `SELECT user_id::text AS user_id, point_balance, points_redeemed, transactions FROM user_rewards_realtime ORDER BY 1`); err != nil {
		return []string{"realtime query: " + err.Error()}
	}
	got := map[string]rewardsRow{}
	for _, r := range streamed {
		got[r.UserID] = r
	}
	var diff []string
	for _, b := range batch {
		if s, ok := got[b.UserID]; !ok || s != b {
			diff = append(diff, fmt.Sprintf("user %s: batch %+v, streamed %+v", b.UserID, b, got[b.UserID]))
		}
		delete(got, b.UserID)
	}
	for id := range got {
		diff = append(diff, fmt.Sprintf("user %s: streamed but not in user_rewards", id))
	}
	return diff
}

func countRows(db *sqlx.DB, table string) int {
	var n int
	if err := db.Get(&n, "SELECT count(*) FROM "+table); err != nil {
		return 0
	}
	return n
}

func waitUntil(timeout time.Duration, ok func() bool) bool {
	for deadline := time.Now().Add(timeout); ; time.Sleep(200 * time.Millisecond) {
		if ok() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
	}
}

func lastLines(s string, lines int) string {
	ls := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(ls[max(0, len(ls)-lines):], "\n")
}

// grepLines keeps the lines of s that contain any of words.
func grepLines(s string, words ...string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				out = append(out, l)
				break
			}
		}
	}
	return strings.Join(out, "\n")
}

// compareRewardsIndex lists where the OpenSearch index of the final rewards
// differs from the batch computation over the raw tables.
func compareRewardsIndex(t *testing.T, db *sqlx.DB, search, index string) []string {
	t.Helper()
	batch, err := batchRewards(db)
	if err != nil {
		return []string{"batch query: " + err.Error()}
	}
	if _, err := http.Post(search+"/"+index+"/_refresh", "application/json", nil); err != nil {
		return []string{"refresh: " + err.Error()}
	}
	resp, err := http.Get(search + "/" + index + "/_search?size=1000")
	if err != nil {
		return []string{"search: " + err.Error()}
	}
	defer resp.Body.Close()
	var res struct {
		Hits struct {
			Hits []struct {
				ID     string     `json:"_id"`
				Source rewardsRow `json:"_source"`
			} `json:"hits"`
		} `json:"hits"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&res); err != nil {
		return []string{fmt.Sprintf("search: %s: %v", resp.Status, err)}
	}
	got := map[string]rewardsRow{}
	for _, h := range res.Hits.Hits {
		h.Source.UserID = h.ID
		got[h.ID] = h.Source
	}
	var diff []string
	for _, b := range batch {
		if s, ok := got[b.UserID]; !ok || s != b {
			diff = append(diff, fmt.Sprintf("user %s: batch %+v, indexed %+v", b.UserID, b, got[b.UserID]))
		}
		delete(got, b.UserID)
	}
	for id := range got {
		diff = append(diff, fmt.Sprintf("user %s: indexed but not in user_rewards", id))
	}
	return diff
}

// deleteIndex removes an index a previous run left.
func deleteIndex(t *testing.T, search, index string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodDelete, search+"/"+index, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("delete index %s: %v", index, err)
	}
	resp.Body.Close()
}
