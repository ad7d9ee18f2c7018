package pipeline

import (
	"strings"
	"testing"
	"time"
)

func parse(t *testing.T, src string) (*Config, error) {
	t.Helper()
	return Parse("p.yaml", []byte(src), Options{
		Lookup: func(k string) (string, bool) { return map[string]string{"B": "k:9092"}[k], k == "B" },
		Kinds:  Kinds{Sources: []string{"generate"}, Sinks: []string{"stdout"}},
	})
}

func TestParseFull(t *testing.T) {
	p, err := parse(t, `
pipeline: shop
shutdown_timeout: 5s
vars: {limit: 3, names: [a, b]}
kafka: {brokers: '${B}', config: {linger.ms: 5, enable.idempotence: true}}
topics:
  orders: {partitions: 6, config: {cleanup.policy: compact}}
  other: {}
sources:
  gen:
    generate: {value: '{"n": 1}'}
    key: n
    to: orders
transforms:
  t1:
    from: [orders, more]
    steps:
      - filter: n > 0
      - set: {b: 2, a: b + 1}
      - drop: x
      - keep: [a, b]
      - rename: {a: c}
      - explode: items
      - explode: {expr: 'split(s, ",")', as: part}
      - assert: n < 9
      - headers: {h: '"v"'}
      - to: '"x"'
      - key: c
      - map: _value
    to: out
    on_error: {dead_letter: dlq}
    rate: 100/s
sinks:
  s1:
    from: out
    group: custom
    start: latest
    stdout: {format: json}
    on_error: drop
`)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name != "shop" || time.Duration(p.ShutdownTimeout) != 5*time.Second || p.Kafka.Brokers != "k:9092" {
		t.Fatalf("top level: %+v", p)
	}
	if p.Kafka.Config["linger.ms"] != "5" || p.Kafka.Config["enable.idempotence"] != "true" {
		t.Errorf("kafka.config values must be strings: %v", p.Kafka.Config)
	}
	if p.Vars["limit"] != int64(3) {
		t.Errorf("vars.limit = %#v, want int64(3)", p.Vars["limit"])
	}
	if tp := p.Topics["orders"]; tp.Partitions != 6 || tp.ReplicationFactor != -1 || tp.Config["cleanup.policy"] != "compact" {
		t.Errorf("topic orders: %+v", tp)
	}
	if p.Topics["other"].Partitions != 1 {
		t.Errorf("default partitions: %+v", p.Topics["other"])
	}
	src := p.Sources[0]
	if src.Name != "gen" || src.Connector.Kind != "generate" || src.Key.Src != "n" || src.To != "orders" || src.OnError.Action != Fail {
		t.Errorf("source: %+v", src)
	}
	tr := p.Transforms[0]
	if len(tr.From) != 2 || tr.Group != "shop.t1" || tr.Start != Earliest || tr.Delivery != AtLeastOnce || float64(tr.Rate) != 100 {
		t.Errorf("transform consumer: %+v", tr.Consumer)
	}
	var kinds []string
	for _, s := range tr.Steps {
		kinds = append(kinds, s.Kind)
	}
	if got := strings.Join(kinds, ","); got != "filter,set,drop,keep,rename,explode,explode,assert,headers,to,key,map" {
		t.Errorf("step kinds %s", got)
	}
	set := tr.Steps[1].Set
	if len(set) != 2 || set[0].Name != "b" || set[1].Name != "a" {
		t.Errorf("set must keep the file's order: %+v", set)
	}
	if tr.Steps[5].Explode.As != "items" || tr.Steps[6].Explode.As != "part" {
		t.Errorf("explode: %+v %+v", tr.Steps[5].Explode, tr.Steps[6].Explode)
	}
	if tr.OnError.Action != DeadLetter || tr.OnError.DeadLetter != "dlq" {
		t.Errorf("on_error: %+v", tr.OnError)
	}
	sink := p.Sinks[0]
	if sink.Group != "custom" || sink.Start != Latest || sink.OnError.Action != Drop || sink.Format != "json" {
		t.Errorf("sink: %+v", sink)
	}
}

func TestExprColumns(t *testing.T) {
	p, err := parse(t, `
pipeline: cols
kafka: {brokers: embedded}
transforms:
  t:
    from: a
    to: b
    steps:
      - filter: qty > 1
      - filter: 'qty > 2'
      - filter: "qty > 3"
`)
	if err != nil {
		t.Fatal(err)
	}
	for i, want := range []int{17, 18, 18} {
		e := p.Transforms[0].Steps[i].Filter
		if e.Pos.Line != 9+i || e.Col0 != want {
			t.Errorf("steps[%d]: line %d col0 %d, want line %d col0 %d", i, e.Pos.Line, e.Col0, 9+i, want)
		}
	}
}

func TestErrorsAreCollected(t *testing.T) {
	_, err := parse(t, `
pipeline: many
kafka: {brokers: embedded, extra: 1}
sources:
  a:
    generate: {}
    to: "bad topic"
    colour: red
sinks:
  b:
    from: x
    stdout: {}
    start: sometime
`)
	if err == nil {
		t.Fatal("want errors")
	}
	want := []string{
		`p.yaml:3:28: kafka.extra: unknown key (known: brokers, config)`,
		`p.yaml:5:3: sources.a.to: invalid topic name "bad topic"`,
		`p.yaml:8:5: sources.a.colour: unknown key (known: commit_interval, commit_records, delivery, format, generate, kafka, key, on_error, steps, to)`,
		`p.yaml:13:12: sinks.b.start: unknown value "sometime": want one of earliest, latest`,
	}
	if got := err.Error(); got != strings.Join(want, "\n") {
		t.Errorf("got:\n%s\nwant:\n%s", got, strings.Join(want, "\n"))
	}
}
