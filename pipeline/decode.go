package pipeline

import (
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// decoder walks a yaml.Node tree into Go values, collecting every error with
// its position and YAML path instead of stopping at the first.
type decoder struct {
	file   string
	lookup LookupFunc
	errs   Errors
	// connectorKinds lists the connector keys a struct with a ",connector"
	// field accepts, by struct type.
	connectorKinds map[reflect.Type][]string
	// positions, when not nil, records where each decoded path stands.
	positions Positions
	// lines are the file's lines, for the text of each stage (nil when
	// decoding a connector's node on its own).
	lines []string
}

// Positions maps YAML paths (as in errors) to where their values stand.
type Positions map[string]Pos

// Of returns the position of path, or fallback when it was not decoded.
func (p Positions) Of(path string, fallback Pos) Pos {
	if pos, ok := p[path]; ok {
		return pos
	}
	return fallback
}

// nodeDecoder is implemented by types that decode themselves from a node.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string)
}

func (d *decoder) pos(n *yaml.Node) Pos {
	return Pos{File: d.file, Line: n.Line, Col: n.Column}
}

// failed reports whether an error was already recorded at path.
func (d *decoder) failed(path string) bool {
	for _, e := range d.errs {
		if e.Path == path {
			return true
		}
	}
	return false
}

func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	d.errs.Addf(d.pos(n), path, format, args...)
}

// scalar returns n's interpolated text, or false after recording an error.
func (d *decoder) scalar(n *yaml.Node, path, want string) (string, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want %s, got %s", want, kindName(n))
		return "", false
	}
	if n.Tag == "!!null" {
		return "", true
	}
	s, err := interpolate(n.Value, d.lookup)
	if err != nil {
		d.errs.Add(d.pos(n), path, err)
		return "", false
	}
	return s, true
}

func resolveAlias(n *yaml.Node) *yaml.Node {
	for n.Kind == yaml.AliasNode && n.Alias != nil {
		n = n.Alias
	}
	return n
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		if n.Tag == "!!null" {
			return "null"
		}
		return fmt.Sprintf("%q", n.Value)
	default:
		return "an alias"
	}
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func index(path string, i int) string { return fmt.Sprintf("%s[%d]", path, i) }

// pairs yields the key and value nodes of a mapping, or records an error.
func (d *decoder) pairs(n *yaml.Node, path string) ([][2]*yaml.Node, bool) {
	n = resolveAlias(n)
	if n.Kind != yaml.MappingNode {
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return nil, true
		}
		d.errorf(n, path, "want a mapping, got %s", kindName(n))
		return nil, false
	}
	out := make([][2]*yaml.Node, 0, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		out = append(out, [2]*yaml.Node{n.Content[i], n.Content[i+1]})
	}
	return out, true
}

var posType = reflect.TypeFor[Pos]()

// decode fills v (addressable) from n.
func (d *decoder) decode(n *yaml.Node, path string, v reflect.Value) {
	n = resolveAlias(n)
	if d.positions != nil {
		d.positions[path] = d.pos(n)
	}
	if v.CanAddr() {
		if nd, ok := v.Addr().Interface().(nodeDecoder); ok {
			nd.decodeNode(d, n, path)
			return
		}
	}
	switch v.Kind() {
	case reflect.Struct:
		d.decodeStruct(n, path, v)
	case reflect.String:
		if s, ok := d.scalar(n, path, "a string"); ok {
			v.SetString(s)
		}
	case reflect.Int, reflect.Int64, reflect.Int32:
		if s, ok := d.scalar(n, path, "a whole number"); ok && s != "" {
			i, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				d.errorf(n, path, "want a whole number, got %q", s)
				return
			}
			v.SetInt(i)
		}
	case reflect.Float64:
		if s, ok := d.scalar(n, path, "a number"); ok && s != "" {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				d.errorf(n, path, "want a number, got %q", s)
				return
			}
			v.SetFloat(f)
		}
	case reflect.Bool:
		if s, ok := d.scalar(n, path, "true or false"); ok && s != "" {
			b, err := strconv.ParseBool(s)
			if err != nil {
				d.errorf(n, path, "want true or false, got %q", s)
				return
			}
			v.SetBool(b)
		}
	case reflect.Map:
		d.decodeMap(n, path, v, false)
	case reflect.Slice:
		if n.Kind == yaml.MappingNode && reflect.PointerTo(v.Type().Elem()).Implements(namedType) {
			d.decodeNamed(n, path, v)
			return
		}
		if n.Kind == yaml.ScalarNode && n.Tag == "!!null" {
			return
		}
		if n.Kind != yaml.SequenceNode {
			d.errorf(n, path, "want a list, got %s", kindName(n))
			return
		}
		s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
		for i, c := range n.Content {
			d.decode(c, index(path, i), s.Index(i))
		}
		v.Set(s)
	case reflect.Interface:
		var x any
		if err := n.Decode(&x); err != nil {
			d.errs.Add(d.pos(n), path, err)
			return
		}
		v.Set(reflect.ValueOf(d.interpolateAny(n, path, x)))
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		d.decode(n, path, p.Elem())
		v.Set(p)
	default:
		panic(fmt.Sprintf("config: cannot decode into %s", v.Type()))
	}
}

// interpolateAny expands variables in the strings of a free-form value.
func (d *decoder) interpolateAny(n *yaml.Node, path string, x any) any {
	switch t := x.(type) {
	case string:
		s, err := interpolate(t, d.lookup)
		if err != nil {
			d.errs.Add(d.pos(n), path, err)
			return t
		}
		return s
	case map[string]any:
		for k, e := range t {
			if strings.Contains(k, "${") {
				d.errs.Addf(d.pos(n), join(path, k), "${VAR} is not expanded in keys: only in values and in the topic names under topics:")
			}
			t[k] = d.interpolateAny(n, join(path, k), e)
		}
	case []any:
		for i, e := range t {
			t[i] = d.interpolateAny(n, index(path, i), e)
		}
	case int:
		return int64(t)
	}
	return x
}

// decodeMap fills a map whose keys are names. Keys are taken as written,
// unless expand is set (topic names under topics:, see TopicDecls): then
// ${VAR} is expanded in them as in values.
func (d *decoder) decodeMap(n *yaml.Node, path string, v reflect.Value, expand bool) {
	kv, ok := d.pairs(n, path)
	if !ok {
		return
	}
	m := reflect.MakeMapWithSize(v.Type(), len(kv))
	at := map[string]*yaml.Node{}
	for _, p := range kv {
		key, ok := d.key(p[0], path, expand)
		if !ok {
			continue
		}
		if first, dup := at[key]; dup {
			if first.Value != p[0].Value { // same text: the duplicate-key check reports it
				d.errorf(p[0], join(path, key), "%q is declared twice: as %q here and as %q at line %d", key, p[0].Value, first.Value, first.Line)
			}
			continue
		}
		at[key] = p[0]
		elem := reflect.New(v.Type().Elem()).Elem()
		d.decode(p[1], join(path, key), elem)
		m.SetMapIndex(reflect.ValueOf(key), elem)
		if d.positions != nil {
			// An entry is found by its key, which is where errors about
			// it (an unknown property, say) should point.
			d.positions[join(path, key)] = d.pos(p[0])
		}
	}
	v.Set(m)
}

// key returns a mapping key's text, with variables expanded when expand is
// set. Elsewhere a ${ in a key is an error rather than a name that silently
// keeps the braces.
func (d *decoder) key(n *yaml.Node, path string, expand bool) (string, bool) {
	if expand {
		return d.scalar(n, path, "a key")
	}
	n = resolveAlias(n)
	if n.Kind != yaml.ScalarNode {
		d.errorf(n, path, "want a key, got %s", kindName(n))
		return "", false
	}
	if strings.Contains(n.Value, "${") {
		d.errorf(n, join(path, n.Value), "${VAR} is not expanded in keys: only in values and in the topic names under topics:")
		return "", false
	}
	return n.Value, true
}

// named is a list element written as a mapping entry whose key is its name,
// as stages are.
type named interface {
	setIdentity(name, path string, pos Pos)
	// setSource keeps the entry as written (see Stage.Text) and the
	// canonical form of its settings (see Config.StageFingerprint).
	setSource(text, settings string)
}

var namedType = reflect.TypeFor[named]()

func (d *decoder) decodeNamed(n *yaml.Node, path string, v reflect.Value) {
	kv, _ := d.pairs(n, path)
	s := reflect.MakeSlice(v.Type(), len(kv), len(kv))
	for i, p := range kv {
		name := p[0].Value
		if strings.Contains(name, "${") {
			d.key(p[0], path, false) // reports it; the name stays as written
		}
		elem := s.Index(i)
		nm := elem.Addr().Interface().(named)
		nm.setIdentity(name, join(path, name), d.pos(p[0]))
		nm.setSource(d.entryText(p[0]), canonical(p[1], d.lookup))
		d.decode(p[1], join(path, name), elem)
	}
	v.Set(s)
}

// field is one key a struct accepts.
type field struct {
	name     string
	index    []int
	required bool
	def      string   // the default, as YAML; set when the key is absent or empty
	enum     []string // the allowed values of a string
	enumOf   string   // what the values are called in errors
}

type structInfo struct {
	fields    []field
	connector []int // index of the ",connector" field, if any
	pos       []int // index of the Pos field, if any
}

func fieldsOf(t reflect.Type) structInfo {
	var info structInfo
	var walk func(t reflect.Type, prefix []int)
	walk = func(t reflect.Type, prefix []int) {
		for i := 0; i < t.NumField(); i++ {
			f := t.Field(i)
			idx := append(append([]int(nil), prefix...), i)
			tag, has := f.Tag.Lookup("yaml")
			switch {
			case tag == ",inline":
				walk(f.Type, idx)
			case tag == ",connector":
				info.connector = idx
			case has && tag != "-":
				fd := field{name: tag, index: idx, required: f.Tag.Get("conf") == "required", def: f.Tag.Get("default"), enumOf: f.Tag.Get("enumof")}
				if e := f.Tag.Get("enum"); e != "" {
					fd.enum = strings.Split(e, ",")
				}
				if fd.enumOf == "" {
					fd.enumOf = "value"
				}
				info.fields = append(info.fields, fd)
			case f.Type == posType && f.Name == "Pos" && len(prefix) == 0:
				info.pos = idx
			}
		}
	}
	walk(t, nil)
	return info
}

func (d *decoder) decodeStruct(n *yaml.Node, path string, v reflect.Value) {
	info := fieldsOf(v.Type())
	if info.pos != nil {
		v.FieldByIndex(info.pos).Set(reflect.ValueOf(d.pos(n)))
	}
	kv, ok := d.pairs(n, path)
	if !ok {
		return
	}
	seen := map[string]bool{}
	var kinds []string
	if info.connector != nil {
		kinds = d.connectorKinds[v.Type()]
	}
	var connectors [][2]*yaml.Node
	unknown := false
	for _, p := range kv {
		key := p[0].Value
		f, found := findField(info.fields, key)
		if !found {
			if info.connector != nil && contains(kinds, key) {
				connectors = append(connectors, p)
				continue
			}
			d.errorf(p[0], join(path, key), "unknown key%s", suggest(key, append(fieldNames(info.fields), kinds...)))
			unknown = true
			continue
		}
		seen[key] = true
		fv := v.FieldByIndex(f.index)
		d.decode(p[1], join(path, key), fv)
		if len(f.enum) > 0 && fv.Kind() == reflect.String && fv.String() != "" && !contains(f.enum, fv.String()) {
			d.errorf(p[1], join(path, key), "unknown %s %q: want %s", f.enumOf, fv.String(), orList(f.enum))
		}
	}
	for _, f := range info.fields {
		if f.required && !seen[f.name] {
			d.errorf(n, path, "missing required key %q", f.name)
		}
		if fv := v.FieldByIndex(f.index); f.def != "" && (!seen[f.name] || fv.Kind() == reflect.String && fv.String() == "") {
			if err := decodeDefault(f.def, fv); err != nil {
				panic(fmt.Sprintf("pipeline: default of %s: %v", join(path, f.name), err)) // Keys, which Registry.Check calls in the tests, reports it first
			}
		}
	}
	if info.connector == nil {
		return
	}
	switch len(connectors) {
	case 0:
		if unknown {
			return // most likely the unknown key was meant as the connector
		}
		d.errorf(n, path, "missing the connector: add one of %s", strings.Join(kinds, ", "))
	case 1:
		c := Connector{Kind: connectors[0][0].Value, Node: resolveAlias(connectors[0][1]), Path: join(path, connectors[0][0].Value), Pos: d.pos(connectors[0][0])}
		v.FieldByIndex(info.connector).Set(reflect.ValueOf(c))
	default:
		d.errorf(connectors[1][0], join(path, connectors[1][0].Value), "a stage has one connector, %q is already set", connectors[0][0].Value)
	}
}

func findField(fs []field, name string) (field, bool) {
	for _, f := range fs {
		if f.name == name {
			return f, true
		}
	}
	return field{}, false
}

func fieldNames(fs []field) []string {
	names := make([]string, len(fs))
	for i, f := range fs {
		names[i] = f.name
	}
	return names
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// suggest names the closest known key, to catch typos.
// Suggest is the hint for an unknown key: the closest known one, or the
// list of them. Other YAML readers of the project (pipeline tests) use it
// so every file reads alike.
func Suggest(key string, known []string) string { return suggest(key, known) }

func suggest(key string, known []string) string {
	if hint := DidYouMean(key, known); hint != "" {
		return hint
	}
	sorted := append([]string(nil), known...)
	sort.Strings(sorted)
	return fmt.Sprintf(" (known: %s)", strings.Join(sorted, ", "))
}

// DidYouMean names the known word closest to key, when one is close
// enough to be a typo, else "": for lists too long to print.
func DidYouMean(key string, known []string) string {
	best, bestDist := "", 3
	for _, k := range known {
		if dist := levenshtein(key, k); dist < bestDist {
			best, bestDist = k, dist
		}
	}
	if best == "" {
		return ""
	}
	return fmt.Sprintf(" (did you mean %q?)", best)
}

func levenshtein(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Decode fills v, a pointer to a connector's config struct, from the
// connector's node, returning every error found. Connectors call it so their
// options are checked like the rest of the file.
func Decode(c Connector, lookup LookupFunc, v any) error {
	_, err := DecodeLocated(c, lookup, v)
	return err
}

// DecodeLocated is Decode that also returns where each value stands, so a
// connector's own checks can point at the offending key.
func DecodeLocated(c Connector, lookup LookupFunc, v any) (Positions, error) {
	d := &decoder{file: c.Pos.File, lookup: lookup, positions: Positions{}}
	if c.Node != nil {
		d.decode(c.Node, c.Path, reflect.ValueOf(v).Elem())
	}
	return d.positions, d.errs.Err()
}
