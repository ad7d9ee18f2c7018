package pipeline

import (
	"reflect"
	"regexp"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

func (s *Stage) setIdentity(name, path string, pos Pos) {
	s.Name, s.Path, s.Pos = name, path, pos
}

func (s *Stage) setSource(text, settings string) {
	s.Text, s.settings = Redact(text), settings
}

func (v *TopicDecls) decodeNode(d *decoder, n *yaml.Node, path string) {
	d.decodeMap(n, path, reflect.ValueOf(v).Elem(), true)
}

func (v *Duration) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeParsed(d, n, path, "a duration", v, ParseDuration)
}

func (v *Rate) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeParsed(d, n, path, "a rate", v, ParseRate)
}

func (v *Size) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeParsed(d, n, path, "a size", v, ParseSize)
}

func decodeParsed[T any](d *decoder, n *yaml.Node, path, want string, v *T, parse func(string) (T, error)) {
	s, ok := d.scalar(n, path, want)
	if !ok || s == "" {
		return
	}
	x, err := parse(s)
	if err != nil {
		d.errs.Add(d.pos(n), path, err)
		return
	}
	*v = x
}

// decodeEnum reads one of a fixed set of words.
func decodeEnum[T ~string](d *decoder, n *yaml.Node, path string, v *T, allowed ...T) {
	s, ok := d.scalar(n, path, "a word")
	if !ok || s == "" {
		return
	}
	for _, a := range allowed {
		if string(a) == s {
			*v = a
			return
		}
	}
	words := make([]string, len(allowed))
	for i, a := range allowed {
		words[i] = string(a)
	}
	d.errorf(n, path, "unknown value %q: want one of %s", s, strings.Join(words, ", "))
}

func (v *Delivery) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeEnum(d, n, path, v, AtLeastOnce, ExactlyOnce)
}

func (v *Start) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeEnum(d, n, path, v, Earliest, Latest)
}

func (v *Format) decodeNode(d *decoder, n *yaml.Node, path string) {
	decodeEnum(d, n, path, v, FormatJSON, FormatString, FormatBytes, FormatAvro, FormatJSONSchema, FormatProtobuf)
}

func (v *Topics) decodeNode(d *decoder, n *yaml.Node, path string) {
	if n.Kind == yaml.SequenceNode {
		for i, c := range n.Content {
			if s, ok := d.scalar(c, index(path, i), "a topic name"); ok {
				*v = append(*v, s)
			}
		}
		return
	}
	if s, ok := d.scalar(n, path, "a topic name or a list of them"); ok && s != "" {
		*v = Topics{s}
	}
}

func (v *Expr) decodeNode(d *decoder, n *yaml.Node, path string) {
	s, ok := d.scalar(n, path, "an expression")
	if !ok {
		return
	}
	*v = d.expr(n, path, s)
}

// expr builds an Expr located at the first character of the expression.
func (d *decoder) expr(n *yaml.Node, path, src string) Expr {
	e := Expr{Src: src, Path: path, Pos: d.pos(n), Col0: n.Column}
	switch n.Style {
	case yaml.DoubleQuotedStyle, yaml.SingleQuotedStyle:
		e.Col0++
	case yaml.LiteralStyle, yaml.FoldedStyle:
		e.Pos.Line++
	}
	if strings.TrimSpace(src) == "" {
		d.errorf(n, path, "empty expression")
	}
	return e
}

func (v *OnError) decodeNode(d *decoder, n *yaml.Node, path string) {
	v.Pos = d.pos(n)
	if n.Kind == yaml.MappingNode {
		kv, _ := d.pairs(n, path)
		for _, p := range kv {
			if p[0].Value != string(DeadLetter) {
				d.errorf(p[0], join(path, p[0].Value), "unknown key%s", suggest(p[0].Value, []string{"dead_letter"}))
				continue
			}
			if s, ok := d.scalar(p[1], join(path, "dead_letter"), "a topic name"); ok {
				v.Action, v.DeadLetter = DeadLetter, s
				if !validTopic(s) {
					d.errorf(p[1], join(path, "dead_letter"), "invalid topic name %q", s)
				}
			}
		}
		return
	}
	decodeEnum(d, n, path, &v.Action, Fail, Drop)
}

var topicRE = regexp.MustCompile(`^[a-zA-Z0-9._-]{1,249}$`)

func validTopic(s string) bool { return topicRE.MatchString(s) && s != "." && s != ".." }

func (s *Step) decodeNode(d *decoder, n *yaml.Node, path string) {
	s.Path, s.Pos = path, d.pos(n)
	kv, ok := d.pairs(n, path)
	if !ok {
		return
	}
	if len(kv) != 1 {
		d.errorf(n, path, "a step has exactly one key, one of %s; got %d", strings.Join(StepKinds, ", "), len(kv))
		return
	}
	key, body := kv[0][0], resolveAlias(kv[0][1])
	s.Kind = key.Value
	p := join(path, s.Kind)
	switch s.Kind {
	case "filter":
		s.Filter = d.exprNode(body, p)
	case "map":
		s.Map = d.exprNode(body, p)
	case "key":
		s.Key = d.exprNode(body, p)
	case "to":
		s.To = d.exprNode(body, p)
	case "set":
		s.Set = d.fields(body, p)
	case "headers":
		s.Headers = d.fields(body, p)
	case "drop":
		s.Drop = d.names(body, p)
	case "keep":
		s.Keep = d.names(body, p)
	case "rename":
		kv, _ := d.pairs(body, p)
		for _, r := range kv {
			if to, ok := d.scalar(r[1], join(p, r[0].Value), "a field name"); ok {
				s.Rename = append(s.Rename, Rename{From: r[0].Value, To: to, Pos: d.pos(r[0])})
			}
		}
	case "assert":
		s.Assert = &Assert{}
		if body.Kind != yaml.MappingNode {
			if e := d.exprNode(body, p); e != nil {
				s.Assert.Expr = *e
			}
			return
		}
		var long struct {
			Expr    *Expr  `yaml:"expr" conf:"required"`
			Message string `yaml:"message"`
		}
		d.decode(body, p, reflectValue(&long))
		if long.Expr != nil {
			s.Assert.Expr = *long.Expr
		}
		s.Assert.Message = long.Message
	case "explode":
		s.Explode = &Explode{}
		if body.Kind != yaml.MappingNode {
			if e := d.exprNode(body, p); e != nil {
				s.Explode.Expr = *e
				s.Explode.As = strings.TrimSpace(e.Src)
				if !identRE.MatchString(s.Explode.As) {
					d.errorf(body, p, "explode of an expression needs a field name: write {expr: ..., as: FIELD}")
				}
			}
			return
		}
		var long struct {
			Expr *Expr  `yaml:"expr" conf:"required"`
			As   string `yaml:"as" conf:"required"`
		}
		d.decode(body, p, reflectValue(&long))
		if long.Expr != nil {
			s.Explode.Expr = *long.Expr
		}
		s.Explode.As = long.As
	case "join":
		s.Join = &Join{}
		d.decode(body, p, reflectValue(s.Join))
		decodeJoinType(d, body, p, &s.Join.Type, Inner, Left)
	case "join_table":
		s.JoinTable = &JoinTable{}
		d.decode(body, p, reflectValue(s.JoinTable))
		decodeJoinType(d, body, p, &s.JoinTable.Type, Inner, Left, Outer)
	case "aggregate":
		s.Aggregate = d.aggregate(body, p)
	default:
		s.Kind = ""
		d.errorf(key, p, "unknown step%s", suggest(key.Value, StepKinds))
	}
}

var identRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (d *decoder) exprNode(n *yaml.Node, path string) *Expr {
	s, ok := d.scalar(n, path, "an expression")
	if !ok {
		return nil
	}
	e := d.expr(n, path, s)
	return &e
}

func (d *decoder) fields(n *yaml.Node, path string) []Field {
	kv, _ := d.pairs(n, path)
	out := make([]Field, 0, len(kv))
	for _, p := range kv {
		name := p[0].Value
		if e := d.exprNode(p[1], join(path, name)); e != nil {
			out = append(out, Field{Name: name, Expr: *e})
		}
	}
	if len(out) == 0 && len(kv) == 0 {
		d.errorf(n, path, "want at least one field")
	}
	return out
}

func (d *decoder) names(n *yaml.Node, path string) []string {
	if n.Kind == yaml.SequenceNode {
		var out []string
		for i, c := range n.Content {
			if s, ok := d.scalar(c, index(path, i), "a field name"); ok {
				out = append(out, s)
			}
		}
		return out
	}
	if s, ok := d.scalar(n, path, "a field name or a list of them"); ok {
		return []string{s}
	}
	return nil
}

func reflectValue(p any) reflect.Value { return reflect.ValueOf(p).Elem() }

// decodeJoinType defaults a join's type to inner and checks it is one the
// step allows.
func decodeJoinType(d *decoder, n *yaml.Node, path string, t *JoinType, allowed ...JoinType) {
	if *t == "" {
		*t = Inner
		return
	}
	if !slices.Contains(allowed, *t) {
		words := make([]string, len(allowed))
		for i, a := range allowed {
			words[i] = string(a)
		}
		d.errorf(n, join(path, "type"), "unknown join type %q: want one of %s", *t, strings.Join(words, ", "))
	}
}
