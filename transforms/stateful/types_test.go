package stateful

import (
	"strings"
	"testing"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

func field(name string, k record.Kind) record.Field {
	return record.Field{Name: name, Type: record.Type{Kind: k}}
}

// Types of the topics the test pipelines read: "points" has a schema,
// "users" too, "plain" none.
func topicType(topic string) record.Type {
	switch topic {
	case "points":
		return record.Type{Kind: record.Object, Fields: []record.Field{
			field("user_id", record.Text), field("points", record.Int), field("at", record.Time)}}
	case "users":
		return record.Type{Kind: record.Object, Fields: []record.Field{
			field("name", record.Text), field("tier", record.Int)}}
	}
	return record.Type{}
}

// compileTyped compiles the first transform of a pipeline whose steps are
// steps, reading from, as the engine does.
func compileTyped(t *testing.T, from, steps string) (*Plan, error) {
	t.Helper()
	yaml := "pipeline: j\nkafka: {brokers: embedded}\ntransforms:\n  t:\n    from: " + from + "\n    steps:\n" + steps + "    to: out\n"
	p, err := pipeline.Parse("t.yaml", []byte(yaml), pipeline.Options{})
	if err != nil {
		t.Fatal(err)
	}
	tr := &p.Transforms[0]
	var errs pipeline.Errors
	pl := Compile(tr, expression.Options{}, &errs,
		transforms.InputType(transforms.TopicsType(tr.From, topicType)), transforms.TopicTypes(topicType))
	return pl, errs.Err()
}

func TestTypeFlow(t *testing.T) {
	tests := []struct {
		name, from, steps, want string
	}{
		{"join adds the table's row", "points", `
      - join: {table: users, as: user, key: user_id}
      - set: {tier: user.tier + 1}
`, "{user_id: string, points: int, at: timestamp, user: {name: string, tier: int}, tier: int}"},
		{"a left join's row may be null", "points", `
      - join: {table: users, as: user, type: left}
`, "{user_id: string, points: int, at: timestamp, user: {name: string, tier: int}?}"},
		{"a table without a schema is any", "points", `
      - join: {table: plain, as: p}
      - filter: p.whatever > 1 && points > 0
`, "{user_id: string, points: int, at: timestamp, p: any}"},
		{"join_table adds the with table's row", "points", `
      - join_table: {with: users, as: user, type: outer}
`, "{user_id: string, points: int, at: timestamp, user: {name: string, tier: int}?}"},
		{"aggregate makes its rows", "points", `
      - filter: points > 0
      - aggregate:
          by: user_id
          window: {tumbling: 1m}
          values:
            n: count
            total: {sum: points}
            mean: {avg: points}
            top: {max: points}
            last_at: {last: at}
            ats: {collect: at}
            any_sum: {sum: fromJSON(user_id)}
      - set: {double: total * 2}
`, "{n: int, total: int, mean: float?, top: int?, last_at: string?, ats: [string]?, any_sum: any, window_start: string, window_end: string, double: int}"},
		{"without a schema nothing is typed", "plain", `
      - join: {table: users, as: user}
      - aggregate: {values: {n: count}}
      - filter: whatever > 1
`, "any"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pl, err := compileTyped(t, tt.from, tt.steps)
			if err != nil {
				t.Fatal(err)
			}
			if got := pl.OutputType().String(); got != tt.want {
				t.Errorf("output type\n got: %s\nwant: %s", got, tt.want)
			}
		})
	}
}

func TestTypeErrors(t *testing.T) {
	tests := []struct {
		name, steps, want string
	}{
		{"a join key", `
      - join: {table: users, as: user, key: user_di}
`, `unknown field "user_di" (did you mean "user_id"?)`},
		{"a field of the joined row", `
      - join: {table: users, as: user}
      - filter: user.tier > 1 && user.nmae != ''
`, `unknown field "nmae" in user (did you mean "name"?)`},
		{"a step after join_table", `
      - join_table: {with: users, as: user}
      - set: {x: user.teir}
`, `unknown field "teir" in user (did you mean "tier"?)`},
		{"an aggregate's expression", `
      - aggregate: {values: {total: {sum: pionts}}}
`, `unknown field "pionts" (did you mean "points"?)`},
		{"an aggregate's where", `
      - aggregate: {values: {total: {sum: points, where: user_id > 3}}}
`, `invalid operation: > (mismatched types string and int)`},
		{"an aggregate's by", `
      - aggregate: {by: usr_id, values: {n: count}}
`, `unknown field "usr_id" (did you mean "user_id"?)`},
		{"a field the aggregate does not make", `
      - aggregate: {values: {total: {sum: points}}}
      - filter: points > 1
`, `unknown field "points" (fields: total)`},
		{"a misspelt aggregate output", `
      - aggregate: {values: {total: {sum: points}}}
      - filter: totl > 1
`, `unknown field "totl" (did you mean "total"?)`},
		{"a stateless run before the join", `
      - set: {x: ponts}
      - join: {table: users, as: user}
`, `unknown field "ponts" (did you mean "points"?)`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := compileTyped(t, "points", tt.steps)
			if err == nil {
				t.Fatal("compiled, want an error")
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error\n got: %v\nwant it to contain: %s", err, tt.want)
			}
		})
	}
}
