package integration

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/conveyor-dev/conveyor/internal/kafkatest"
	"github.com/conveyor-dev/conveyor/internal/runnertest"
	"github.com/conveyor-dev/conveyor/internal/service"
)

// registryCall sends one request to the registry's Confluent API and
// returns the body; a status other than 200 fails the test.
func registryCall(t *testing.T, method, url, body string) string {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/vnd.schemaregistry.v1+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: %d %s", method, url, resp.StatusCode, b)
	}
	return string(b)
}

// TestSQLSourceDerivesAvro: a SQL source writing Avro to a topic without a
// schema file derives the schema from the table's columns and registers
// it; when a column is added to the table, the next rows register a second
// version with the new field nullable, which the subject's BACKWARD
// compatibility accepts, and readers see the new field.
func TestSQLSourceDerivesAvro(t *testing.T) {
	pg := startPGCase(t, "sqlavro", "sqlavro_",
		`CREATE TABLE %[1]s (id bigserial PRIMARY KEY, name text NOT NULL, amount numeric(10,2), seen timestamptz, flag boolean)`)
	registry := service.Registry(t)
	subject := pg.name + "-value"
	registryCall(t, http.MethodPut, registry+"/config/"+subject, `{"compatibility": "BACKWARD"}`)
	insert := func(n int, note bool) {
		q := `INSERT INTO ` + pg.table + ` (name, amount, seen, flag) SELECT 'n' || g, g * 1.25, now(), g % 2 = 0 FROM generate_series(1, $1) g`
		if note {
			q = `INSERT INTO ` + pg.table + ` (name, amount, seen, flag, note) SELECT 'n' || g, g * 1.25, now(), NULL, 'note ' || g FROM generate_series(1, $1) g`
		}
		if _, err := pg.db.Exec(q, n); err != nil {
			t.Fatal(err)
		}
	}
	insert(100, false)
	kafkatest.CreateTopic(t, pg.brokers, pg.name, 1)
	cfg := writePipeline(t, pg.name, fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: '${KAFKA_BROKERS}'}
schema_registry: {url: '%[2]s'}
sources:
  rows:
    sql:
      driver: postgres
      dsn: ${PG_DSN}
      table: %[3]s
      mode: incrementing
      incrementing_column: id
      poll_interval: 100ms
    to: %[1]s
    format: avro
`, pg.name, registry, pg.table))
	p := runnertest.Start(t, cfg, "KAFKA_BROKERS="+pg.brokers, "PG_DSN="+pg.dsn)
	if got := kafkatest.ReadUntil(t, pg.brokers, pg.name, 60*time.Second, kafkatest.Count(100)); len(got) < 100 {
		t.Fatalf("%d rows in Kafka, want 100; stderr:\n%s", len(got), p.Stderr.String())
	}
	if _, err := pg.db.Exec(`ALTER TABLE ` + pg.table + ` ADD COLUMN note text`); err != nil {
		t.Fatal(err)
	}
	insert(50, true)
	msgs := kafkatest.ReadUntil(t, pg.brokers, pg.name, 60*time.Second, kafkatest.Count(150))
	p.StopCleanly(t)
	if len(msgs) != 150 {
		t.Fatalf("%d rows in Kafka, want 150; stderr:\n%s", len(msgs), p.Stderr.String())
	}
	values := avroValues(t, registry, msgs)
	first, last := values[0], values[149]
	if _, ok := first["note"]; ok {
		t.Errorf("row 1 has a note field before the column existed: %v", first)
	}
	if last["note"] != "note 50" {
		t.Errorf("row 150: note %v, want \"note 50\" (the added column)", last["note"])
	}
	if _, ok := first["seen"].(time.Time); !ok || first["id"] != int64(1) || first["name"] != "n1" || first["amount"] != "1.25" || first["flag"] != false {
		t.Errorf("row 1 decodes to %#v: want id 1, name n1, amount \"1.25\", seen a time, flag false", first)
	}
	if !bytes.Equal(msgs[0].Value[1:5], msgs[99].Value[1:5]) || bytes.Equal(msgs[0].Value[1:5], msgs[149].Value[1:5]) {
		t.Errorf("schema ids: row 1 %x, row 100 %x, row 150 %x; want one id before the column was added and another after", msgs[0].Value[1:5], msgs[99].Value[1:5], msgs[149].Value[1:5])
	}
	versions := registryCall(t, http.MethodGet, registry+"/subjects/"+subject+"/versions", "")
	latest := registryCall(t, http.MethodGet, registry+"/subjects/"+subject+"/versions/latest", "")
	if strings.Count(versions, ",") != 1 || !strings.Contains(latest, `\"note\"`) {
		t.Fatalf("subject %s: versions %s, latest %s; want two versions, the second with note", subject, versions, latest)
	}
	t.Logf("derived Avro: versions %s; latest %s", versions, latest)
}

// TestCheckRegistry: runner check --registry types a topic that has no
// schema file from its subject's latest version (a misspelt field is an
// error at its position), and fails a schema file a stage would write that
// the subject's BACKWARD compatibility rejects; a compatible one passes.
func TestCheckRegistry(t *testing.T) {
	registry := service.Registry(t)
	name := unique("checkreg")
	schemas, _ := filepath.Abs("testdata/schema")
	order, err := os.ReadFile(filepath.Join(schemas, "order.avsc"))
	if err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf(`{"schema": %q}`, strings.Join(strings.Fields(string(order)), " "))
	for _, s := range []string{name + "-in-value", name + "-out-value"} {
		registryCall(t, http.MethodPut, registry+"/config/"+s, `{"compatibility": "BACKWARD"}`)
		registryCall(t, http.MethodPost, registry+"/subjects/"+s+"/versions", body)
	}
	dir := t.TempDir()
	// Incompatible under BACKWARD: a new field without a default.
	breaking := strings.Replace(string(order), `{"name": "note"`, `{"name": "region", "type": "string"}, {"name": "note"`, 1)
	// Compatible: the new field has a default.
	adding := strings.Replace(string(order), `{"name": "note"`, `{"name": "region", "type": "string", "default": "eu"}, {"name": "note"`, 1)
	for file, text := range map[string]string{"breaking.avsc": breaking, "adding.avsc": adding} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	pipeline := func(schema, filter string) string {
		return writePipelineAt(t, filepath.Join(dir, schema+".yaml"), fmt.Sprintf(`pipeline: %[1]s
kafka: {brokers: localhost:9092}
schema_registry: {url: '%[2]s'}
topics:
  %[1]s-in:  {format: avro}
  %[1]s-out: {value_schema: %[3]s}
transforms:
  tag:
    from: %[1]s-in
    steps:
      - filter: %[4]s
      - set: {region: '"eu"'}
    to: %[1]s-out
`, name, registry, schema, filter))
	}
	bin, err := runnertest.Binary()
	if err != nil {
		t.Fatal(err)
	}
	check := func(cfg string, withRegistry bool) (string, error) {
		args := []string{"check", "-c", cfg}
		if withRegistry {
			args = append(args, "--registry", registry)
		}
		out, err := exec.Command(bin, args...).CombinedOutput()
		return string(out), err
	}
	bad := pipeline("breaking.avsc", "qtty > 0")
	out, err := check(bad, true)
	if err == nil || !strings.Contains(out, `unknown field "qtty" (did you mean "qty"?)`) || !strings.Contains(out, "is not compatible with the 1 version(s) registered for subject "+name+"-out-value (compatibility BACKWARD)") {
		t.Fatalf("check --registry of a misspelt field and a breaking schema: %v\n%s", err, out)
	}
	t.Logf("check --registry:\n%s", out)
	if out, err := check(bad, false); err != nil {
		t.Fatalf("check without --registry must not know the types of %s-in: %v\n%s", name, err, out)
	}
	if out, err := check(pipeline("adding.avsc", "qty > 0"), true); err != nil {
		t.Fatalf("check --registry of a compatible schema: %v\n%s", err, out)
	}
}
