package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"
)

// pipelineFile is the part of the runner's pipeline format the harness
// writes; yaml.v3 does the quoting.
type pipelineFile struct {
	Pipeline       string                  `yaml:"pipeline"`
	Vars           map[string]any          `yaml:"vars,omitempty"`
	Kafka          kafkaSection            `yaml:"kafka"`
	SchemaRegistry *registrySection        `yaml:"schema_registry,omitempty"`
	Topics         map[string]topicDecl    `yaml:"topics,omitempty"`
	Sources        map[string]sourceDef    `yaml:"sources,omitempty"`
	Transforms     map[string]transformDef `yaml:"transforms,omitempty"`
	// Sinks are written as maps: the connector's key is its kind.
	Sinks map[string]map[string]any `yaml:"sinks,omitempty"`
}

type kafkaSection struct {
	Brokers string `yaml:"brokers"`
}

type registrySection struct {
	URL string `yaml:"url"`
}

// topicDecl declares a topic's format or the schema file writers use.
type topicDecl struct {
	Format      string `yaml:"format,omitempty"`
	ValueSchema string `yaml:"value_schema,omitempty"`
}

type transformDef struct {
	From  string           `yaml:"from"`
	Group string           `yaml:"group"`
	Steps []map[string]any `yaml:"steps,omitempty"`
	To    string           `yaml:"to"`
	// Delivery is empty (the default, at_least_once) or exactly_once.
	Delivery string `yaml:"delivery,omitempty"`
}

type sourceDef struct {
	Generate generateDef `yaml:"generate"`
	Key      string      `yaml:"key"`
	To       string      `yaml:"to"`
}

type generateDef struct {
	Count int64  `yaml:"count"`
	Seed  int64  `yaml:"seed"`
	Value string `yaml:"value"`
}

// transformPipeline is one transform stage from in to out: no steps for
// passthrough, a filter and three computed fields for typical.
func transformPipeline(name, brokers, in, out, group string, typical bool) pipelineFile {
	t := transformDef{From: in, Group: group, To: out}
	if typical {
		t.Steps = []map[string]any{
			{"filter": "qty > 0"},
			{"set": map[string]string{"total": "qty * price", "bulk": "qty >= 12", "store_upper": "upper(store)"}},
		}
	}
	return pipelineFile{Pipeline: name, Kafka: kafkaSection{Brokers: brokers}, Transforms: map[string]transformDef{"stage": t}}
}

// aggregatePipeline is one exactly-once transform stage from in (keyed by
// the group) to out: count and sum of qty per record key, a row per input
// record (emit: changes, the default).
func aggregatePipeline(name, brokers, in, out, group string) pipelineFile {
	t := transformDef{From: in, Group: group, To: out, Delivery: "exactly_once"}
	t.Steps = []map[string]any{
		{"aggregate": map[string]any{
			"values": map[string]any{"orders": "count", "qty": map[string]string{"sum": "qty"}},
			"emit":   "changes",
		}},
	}
	return pipelineFile{Pipeline: name, Kafka: kafkaSection{Brokers: brokers}, Transforms: map[string]transformDef{"stage": t}}
}

// changelogOf is the changelog topic the runner creates for the aggregate
// of pipeline name's stage (<pipeline>-<stage>-changelog).
func changelogOf(name string) string { return name + "-stage-changelog" }

// generatePipeline is a generate source alone writing n orders shaped like
// the preloaded ones of the size class to out.
func generatePipeline(name, brokers, out string, n int64, size int) pipelineFile {
	vars := map[string]any{"stores": stores(), "donuts": donuts(), "prices": prices()}
	value := `{"order_id": uuid(), "store": pick(stores), "donut": pick(donuts), "qty": int_between(1, 24), "price": pick(prices), "ts": "2026-12-01T10:00:00Z"`
	if size >= sizeLarge {
		var emails []string
		for _, n := range customerNames() {
			emails = append(emails, strings.ToLower(strings.ReplaceAll(n, " ", "."))+"@example.com")
		}
		vars["names"], vars["emails"], vars["tiers"] = customerNames(), emails, loyaltyTiers()
		vars["notes"] = notes(notesFor(size))
		item := `{"sku": "DN-" + string(int_between(100, 999)), "donut": pick(donuts), "qty": int_between(1, 12), "price": pick(prices)}`
		value += `, "customer": {"id": int_between(0, 999999), "name": pick(names), "email": pick(emails), "loyalty": pick(tiers)}` +
			`, "line_items": [` + strings.Repeat(item+", ", 3) + item + `], "notes": notes`
	}
	value += "}"
	return pipelineFile{
		Pipeline: name,
		Vars:     vars,
		Kafka:    kafkaSection{Brokers: brokers},
		Sources: map[string]sourceDef{"stage": {
			Generate: generateDef{Count: n, Seed: 42, Value: value},
			Key:      "store",
			To:       out,
		}},
	}
}

// writePipeline writes p as dir/<name>.yaml and returns the path.
func writePipeline(dir string, p pipelineFile) (string, error) {
	b, err := yaml.Marshal(p)
	if err != nil {
		return "", fmt.Errorf("encode pipeline %s: %w", p.Pipeline, err)
	}
	path := filepath.Join(dir, p.Pipeline+".yaml")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		return "", fmt.Errorf("write pipeline %s: %w", p.Pipeline, err)
	}
	return path, nil
}
