package pipeline

import (
	"strings"
	"testing"
)

// TestInterpolationInKeys: ${VAR} expands in topic names under topics:
// (from: and to: name topics from variables too), and nowhere else a key
// stands: there it is an error, not a name with braces in it.
func TestInterpolationInKeys(t *testing.T) {
	lookup := func(k string) (string, bool) {
		v, ok := map[string]string{"TOPICX": "hello", "PROP": "linger.ms", "STAGE": "s", "B": "embedded"}[k]
		return v, ok
	}
	parse := func(src string) (*Config, error) {
		return Parse("p.yaml", []byte(src), Options{Lookup: lookup, Kinds: Kinds{Sources: []string{"generate"}, Sinks: []string{"stdout"}}})
	}
	p, err := parse(`
pipeline: keys
kafka: {brokers: "${B}"}
topics:
  "${TOPICX}": {partitions: 2}
  plain: {}
sources:
  gen:
    generate: {}
    to: ${TOPICX}
`)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Topics["hello"]; got.Partitions != 2 || len(p.Topics) != 2 || p.Sources[0].To != "hello" {
		t.Fatalf("topics %+v, to %q: want hello with 2 partitions, read by to: ${TOPICX}", p.Topics, p.Sources[0].To)
	}

	_, err = parse(`
pipeline: keys
vars:
  ${PROP}: 1
  prices: {"${TOPICX}": 1}
kafka:
  brokers: embedded
  config: {"${PROP}": "5"}
topics:
  "${TOPICX}": {config: {"${PROP}": "1"}}
  hello: {}
sources:
  "${STAGE}":
    generate: {}
    to: x
`)
	want := []string{
		`p.yaml:4:3: vars.${PROP}: ${VAR} is not expanded in keys: only in values and in the topic names under topics:`,
		`p.yaml:5:11: vars.prices.${TOPICX}: ${VAR} is not expanded in keys: only in values and in the topic names under topics:`,
		`p.yaml:8:12: kafka.config.${PROP}: ${VAR} is not expanded in keys: only in values and in the topic names under topics:`,
		`p.yaml:10:26: topics.hello.config.${PROP}: ${VAR} is not expanded in keys: only in values and in the topic names under topics:`,
		`p.yaml:11:3: topics.hello: "hello" is declared twice: as "hello" here and as "${TOPICX}" at line 10`,
		`p.yaml:13:3: sources.${STAGE}: ${VAR} is not expanded in keys: only in values and in the topic names under topics:`,
	}
	if err == nil || err.Error() != strings.Join(want, "\n") {
		t.Errorf("got:\n%v\nwant:\n%s", err, strings.Join(want, "\n"))
	}
}
