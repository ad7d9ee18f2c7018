package sqlsink

import (
	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// locator finds where keys of the connector's block stand in the file, so
// that values which decode fine but are invalid (an unsafe table name, a key
// column missing from columns) are reported where they are written.
type locator struct {
	c pipeline.Connector
}

// value returns the value node of key in the block, or nil.
func (l locator) value(key string) *yaml.Node {
	n := l.c.Node
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			v := n.Content[i+1]
			for v.Kind == yaml.AliasNode && v.Alias != nil {
				v = v.Alias
			}
			return v
		}
	}
	return nil
}

func (l locator) pos(n *yaml.Node) pipeline.Pos {
	if n == nil {
		return l.c.Pos
	}
	return pipeline.Pos{File: l.c.Pos.File, Line: n.Line, Col: n.Column}
}

// at is the position of key's value, or of the block when key is absent.
func (l locator) at(key string) pipeline.Pos { return l.pos(l.value(key)) }

// item is the position of the i-th element of the list under key, or of
// key's value when it is not a list that long.
func (l locator) item(key string, i int) pipeline.Pos {
	v := l.value(key)
	if v != nil && v.Kind == yaml.SequenceNode && i < len(v.Content) {
		return l.pos(v.Content[i])
	}
	return l.pos(v)
}

// path is the YAML path of key in the block.
func (l locator) path(key string) string { return l.c.Path + "." + key }
