package generate

import (
	"context"
	"strings"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// source builds a generator from the YAML text of its block, with real
// positions so expression errors can be checked.
func source(t *testing.T, body string, vars map[string]any) (*Source, error) {
	t.Helper()
	src := "generate: " + body
	cfgSrc := "pipeline: g\nkafka: {brokers: embedded}\nsources:\n  s:\n    " + src + "\n    to: t\n"
	p, err := pipeline.Parse("p.yaml", []byte(cfgSrc), pipeline.Options{Kinds: pipeline.Kinds{Sources: []string{"generate"}}})
	if err != nil {
		t.Fatal(err)
	}
	return New(p.Sources[0].Connector, connectors.Env{Vars: vars})
}

func collect(t *testing.T, s *Source) []string {
	t.Helper()
	var out []string
	err := s.Read(context.Background(), func(_ context.Context, b []*record.Record, _ []byte) error {
		for _, r := range b {
			v, err := json.Marshal(r.Value)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(v))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestSeededRunsRepeat(t *testing.T) {
	body := `{count: 5, seed: 42, batch: 2, value: '{"id": uuid(), "n": _offset, "d": pick(["a", "b", "c"]), "q": int_between(1, 9)}'}`
	a, err := source(t, body, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := source(t, body, nil)
	first, second := collect(t, a), collect(t, b)
	if len(first) != 5 {
		t.Fatalf("got %d records, want 5", len(first))
	}
	if strings.Join(first, "\n") != strings.Join(second, "\n") {
		t.Fatalf("same seed, different records:\n%v\n%v", first, second)
	}
	for i, r := range first {
		var v struct{ N int }
		_ = json.Unmarshal([]byte(r), &v)
		if v.N != i {
			t.Errorf("record %d has _offset %d", i, v.N)
		}
	}
}

func TestVarsAndCount(t *testing.T) {
	s, err := source(t, `{count: 3, value: 'prices.glazed * 2'}`, map[string]any{"prices": map[string]any{"glazed": 1.25}})
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(collect(t, s), ","); got != "2.5,2.5,2.5" {
		t.Fatalf("got %s", got)
	}
}

// TestRuntimeErrorIsOneBadRecord: a value that fails is one bad record,
// handed to the stage (whose on_error decides) as an a record with Err; the
// records after it are made as usual.
func TestRuntimeErrorIsOneBadRecord(t *testing.T) {
	s, err := source(t, `{count: 3, value: '_offset == 1 ? nope.field : _offset'}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	var got []*record.Record
	err = s.Read(context.Background(), func(_ context.Context, b []*record.Record, _ []byte) error {
		got = append(got, b...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].Value != 0 || got[2].Value != 2 {
		t.Fatalf("got %d records: %v", len(got), got)
	}
	if f := got[1]; f.Err == nil || f.Value != nil || !strings.HasPrefix(f.Err.Error(), "generate record 1: value: ") {
		t.Fatalf("record 1: %#v, want no value and an error naming it", f)
	}
}

func TestConfigErrors(t *testing.T) {
	_, err := source(t, `{count: -1, rate: fast, value: 'pik([1])'}`, nil)
	if err == nil {
		t.Fatal("want errors")
	}
	for _, want := range []string{
		`sources.s.generate.rate: invalid rate "fast"`,
		`sources.s.generate.value: unknown function "pik"`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("errors lack %q:\n%v", want, err)
		}
	}
	if !strings.Contains(err.Error(), "p.yaml:5:") {
		t.Errorf("errors lack positions:\n%v", err)
	}
}

func TestRateStopsOnCancel(t *testing.T) {
	s, err := source(t, `{rate: 10/s, value: '1'}`, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err = s.Read(ctx, func(_ context.Context, b []*record.Record, _ []byte) error {
		if n += len(b); n >= 3 {
			cancel()
		}
		return nil
	})
	if err != nil || n < 3 || n > 4 {
		t.Fatalf("read %d records (err %v), want 3 then stop", n, err)
	}
}
