package connectors

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// Reference renders the options of s as a markdown table, for the
// configuration reference in docs/connectors.md.
func (s Spec) Reference() (string, error) {
	keys, err := pipeline.Keys(reflect.TypeOf(s.Config))
	if err != nil {
		return "", fmt.Errorf("connector %s: %w", s.Name, err)
	}
	var b strings.Builder
	b.WriteString("| key | type | default | meaning |\n|---|---|---|---|\n")
	for _, k := range keys {
		typ := k.Type
		if len(k.Enum) > 0 {
			typ = "one of `" + strings.Join(k.Enum, "`, `") + "`"
		}
		def := k.DefaultDoc
		switch {
		case k.Required:
			def = "required"
		case k.Default != "":
			def = "`" + k.Default + "`"
		}
		doc := k.Doc
		if k.Example != "" {
			doc += "; e.g. `" + k.Example + "`"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", k.Key, typ, cell(def), cell(doc))
	}
	return b.String(), nil
}

// cell escapes text for a markdown table cell.
func cell(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
