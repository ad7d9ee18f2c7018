package main

import (
	"bytes"
	"database/sql"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	_ "modernc.org/sqlite"
)

var update = flag.Bool("update", false, "rewrite golden files")

// TestCheckCorpus runs `runner check` on every broken file under
// testdata/check and compares its error output with the golden file.
func TestCheckCorpus(t *testing.T) {
	files, err := filepath.Glob("testdata/check/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no corpus files: %v", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".yaml"), func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code := run([]string{"check", "-c", f}, &stdout, &stderr)
			if code != exitInvalid {
				t.Fatalf("exit status %d, want %d; stderr:\n%s", code, exitInvalid, stderr.String())
			}
			checkGolden(t, strings.TrimSuffix(f, ".yaml")+".golden", stderr.Bytes(), "TestCheckCorpus")
		})
	}
}

// TestCheckExamples validates every shipped pipeline.
func TestCheckExamples(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "-c", "../configs"}, &stdout, &stderr); code != exitOK {
		t.Fatalf("runner check -c configs: exit %d\n%s", code, stderr.String())
	}
}

func TestVersion(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"version"}, &stdout, &stderr); code != exitOK || !strings.HasPrefix(stdout.String(), "runner ") {
		t.Fatalf("version: exit %d, output %q", code, stdout.String())
	}
}

func TestUsageError(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check"}, &stdout, &stderr); code != exitUsage {
		t.Fatalf("check without -c: exit %d, want %d", code, exitUsage)
	}
}

// TestCheckHidesSecrets: the values of secret properties never appear in
// check's output, whatever else is wrong around them.
func TestCheckHidesSecrets(t *testing.T) {
	for _, f := range []string{"testdata/check/kafka-properties.yaml", "testdata/check/kafka-clients.yaml"} {
		var stdout, stderr bytes.Buffer
		if code := run([]string{"check", "-c", f}, &stdout, &stderr); code != exitInvalid {
			t.Fatalf("%s: exit %d, want %d", f, code, exitInvalid)
		}
		if strings.Contains(stderr.String()+stdout.String(), "SECRET-canary") {
			t.Errorf("%s: a secret shows:\n%s", f, stderr.String())
		}
	}
}

// TestCheckTypes runs `runner check` on pipelines whose topic declares a
// JSON Schema: misspelt fields, type mismatches and nested typos are found
// offline, each at its place in the file with the closest field's name,
// while steps on a topic without a schema are checked as before.
func TestCheckTypes(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "-c", "testdata/typecheck/valid.yaml"}, &stdout, &stderr); code != exitOK {
		t.Errorf("valid.yaml: exit status %d, want %d; stderr:\n%s", code, exitOK, stderr.String())
	}
	stdout.Reset()
	stderr.Reset()
	code := run([]string{"check", "-c", "testdata/typecheck/mistakes.yaml"}, &stdout, &stderr)
	if code != exitInvalid {
		t.Fatalf("mistakes.yaml: exit status %d, want %d; stderr:\n%s", code, exitInvalid, stderr.String())
	}
	checkGolden(t, "testdata/typecheck/mistakes.golden", stderr.Bytes(), "TestCheckTypes")
}

// TestCheckUserRewardsTypo: the shipped user-rewards pipeline with one
// field misspelt in an expression fails check at the expression's
// position, in JSON and in Avro mode alike: its topics' schema files type
// the expressions.
func TestCheckUserRewardsTypo(t *testing.T) {
	src, err := os.ReadFile("../configs/user-rewards.yaml")
	if err != nil {
		t.Fatal(err)
	}
	schemas, err := filepath.Abs("../schemas")
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(src), "../schemas/", schemas+"/")
	if !strings.Contains(text, "{sum: points}") {
		t.Fatal("configs/user-rewards.yaml no longer sums points: update this test")
	}
	text = strings.Replace(text, "{sum: points}", "{sum: pionts}", 1)
	line := 1 + strings.Count(text[:strings.Index(text, "pionts")], "\n")
	col := strings.Index(text, "pionts") - strings.LastIndex(text[:strings.Index(text, "pionts")], "\n")
	cfg := filepath.Join(t.TempDir(), "user-rewards.yaml")
	if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"json", "avro"} {
		t.Setenv("REWARDS_FORMAT", format)
		var stdout, stderr bytes.Buffer
		if code := run([]string{"check", "-c", cfg}, &stdout, &stderr); code != exitInvalid {
			t.Fatalf("%s: exit %d, want %d\n%s", format, code, exitInvalid, stderr.String())
		}
		want := fmt.Sprintf("%s:%d:%d: transforms.balance.steps[1].aggregate.values.points.sum: unknown field \"pionts\" (did you mean \"points\"?)", cfg, line, col)
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("%s: check says\n%s\nwant\n%s", format, stderr.String(), want)
		}
	}
}

// TestCheckConnect: a SQL source's own steps are typed from its query's
// columns when check --connect reaches the database (a misspelt column is
// an error at its position); without --connect, or when the database
// cannot be read, check notes that they are unchecked. The probe neither
// creates a missing SQLite file nor writes to an existing one.
func TestCheckConnect(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "shop.db")
	conn, err := sql.Open("sqlite", "file:"+db)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.Exec(`CREATE TABLE orders (store TEXT, total REAL)`); err != nil {
		t.Fatal(err)
	}
	conn.Close()
	before, err := os.ReadFile(db)
	if err != nil {
		t.Fatal(err)
	}
	pipelineFile := func(name, dsn string) string {
		cfg := filepath.Join(dir, name+".yaml")
		text := fmt.Sprintf(`pipeline: %s
kafka: {brokers: embedded}
sources:
  totals:
    sql: {driver: sqlite, dsn: '%s', query: 'SELECT store, SUM(total) AS revenue FROM orders GROUP BY store', mode: bulk}
    steps:
      - set: {revenue: 'round_to(revenu, 2)'}
    to: totals
`, name, dsn)
		if err := os.WriteFile(cfg, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	cfg := pipelineFile("shop", "file:"+db)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"check", "--connect", "-c", cfg}, &stdout, &stderr); code != exitInvalid || !strings.Contains(stderr.String(), cfg+`:7:34: sources.totals.steps[0].set.revenue: unknown field "revenu" (did you mean "revenue"?)`) {
		t.Fatalf("check --connect: exit %d\n%s%s", code, stdout.String(), stderr.String())
	}
	stdout.Reset()
	if code := run([]string{"check", "-c", cfg}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "note: "+cfg+": sources.totals: its steps are checked without the table's column types") {
		t.Fatalf("check: exit %d\n%s", code, stdout.String())
	}
	missing := filepath.Join(dir, "missing.db")
	stdout.Reset()
	if code := run([]string{"check", "--connect", "-c", pipelineFile("missing", "file:"+missing)}, &stdout, &stderr); code != exitOK || !strings.Contains(stdout.String(), "its steps are checked without column types") {
		t.Fatalf("check --connect of a missing database: exit %d\n%s", code, stdout.String())
	}
	if _, err := os.Stat(missing); !os.IsNotExist(err) {
		t.Errorf("the probe created %s", missing)
	}
	if after, _ := os.ReadFile(db); !bytes.Equal(before, after) {
		t.Error("the probe changed the database file")
	}
}
