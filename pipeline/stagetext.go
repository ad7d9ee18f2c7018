package pipeline

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"gopkg.in/yaml.v3"
)

// entryText is a mapping entry (a stage) as written: from its key's line
// through the lines indented deeper than the key, trailing blank and
// comment lines left out, and dedented so the key starts the text.
func (d *decoder) entryText(key *yaml.Node) string {
	if d.lines == nil || key.Line < 1 || key.Line > len(d.lines) {
		return ""
	}
	indent := key.Column - 1
	end := key.Line // 1-based, inclusive
	for i := key.Line; i < len(d.lines); i++ {
		line := d.lines[i]
		if strings.TrimSpace(line) != "" && leadingSpaces(line) <= indent {
			break
		}
		end = i + 1
	}
	for end > key.Line {
		t := strings.TrimSpace(d.lines[end-1])
		if t != "" && !strings.HasPrefix(t, "#") {
			break
		}
		end--
	}
	out := make([]string, 0, end-key.Line+1)
	for _, line := range d.lines[key.Line-1 : end] {
		line = strings.TrimRight(line, "\r")
		out = append(out, line[min(indent, leadingSpaces(line)):])
	}
	return strings.Join(out, "\n") + "\n"
}

func leadingSpaces(s string) int {
	return len(s) - len(strings.TrimLeft(s, " "))
}

// Redacted replaces a secret value.
const Redacted = "[redacted]"

// secretWords mark a key whose value is a secret (compare kafka/rdkafka's
// IsSecret, which this package cannot import); HTTP header names (an http
// sink's headers: X-Api-Key, Authorization, Cookie) too.
var secretWords = []string{"pass", "pwd", "secret", "token", "credential", "dsn", "jaas", "keystore", "bearer", "private", "apikey", "api_key", "api-key", "authorization", "cookie", "key.pem"}

// secretKey reports whether the value of a key in a pipeline file is a
// secret: passwords, tokens, DSNs, SASL and TLS key settings. Paths and URLs
// of such things (ssl.keystore.location) are not.
func secretKey(key string) bool {
	k := strings.ToLower(key)
	if strings.HasSuffix(k, ".location") || strings.HasSuffix(k, ".url") || strings.HasSuffix(k, "_file") {
		return false
	}
	if strings.HasPrefix(k, "sasl.") || strings.HasPrefix(k, "ssl.key") {
		return true
	}
	for _, w := range secretWords {
		if strings.Contains(k, w) {
			return true
		}
	}
	return false
}

// onlyVar matches a value that is nothing but one ${VAR} reference without
// a default: it names where the secret is, not the secret.
var onlyVar = regexp.MustCompile(`^\$\{[A-Za-z_][A-Za-z0-9_]*\}$`)

// urlPassword finds the password of a URL's user info (postgres://u:pw@h).
var urlPassword = regexp.MustCompile(`(://[^:/@\s'"]*:)([^@\s'"]+)@`)

// Redact returns the YAML text src with the values of secret keys (see
// secretKey) and the passwords in URLs replaced by "[redacted]", unless a
// value is only a ${VAR} reference. Text it cannot read as YAML comes back
// with every value hidden.
func Redact(src string) string {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		return hideAllValues(src)
	}
	lines := strings.Split(src, "\n")
	var edits []edit
	var walk func(n *yaml.Node, secret bool)
	walk = func(n *yaml.Node, secret bool) {
		switch n.Kind {
		case yaml.DocumentNode, yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, secret)
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i+1], secret || secretKey(n.Content[i].Value))
			}
		case yaml.ScalarNode:
			if secret {
				if !onlyVar.MatchString(n.Value) && n.Tag != "!!null" {
					edits = append(edits, scalarEdit(lines, n))
				}
				return
			}
			for _, m := range urlPassword.FindAllStringSubmatch(n.Value, -1) {
				if !onlyVar.MatchString(m[2]) {
					edits = append(edits, edit{line: n.Line, word: m[1] + m[2] + "@", with: m[1] + Redacted + "@"})
				}
			}
		}
	}
	walk(&doc, false)
	// Later edits first, so earlier columns stay right.
	slices.SortFunc(edits, func(a, b edit) int {
		if a.line != b.line {
			return b.line - a.line
		}
		return b.col - a.col
	})
	drop := map[int]bool{}
	for _, e := range edits {
		if e.line < 1 || e.line > len(lines) {
			continue
		}
		l := lines[e.line-1]
		switch {
		case e.word != "":
			lines[e.line-1] = strings.ReplaceAll(l, e.word, e.with)
		case e.col-1 <= len(l):
			lines[e.line-1] = l[:e.col-1] + Redacted + l[min(len(l), e.col-1+e.width):]
		}
		for i := 1; i <= e.more; i++ {
			drop[e.line-1+i] = true
		}
	}
	out := lines[:0]
	for i, l := range lines {
		if !drop[i] {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// edit replaces, on one line, width bytes from col (1-based), or the
// string word; more following lines (a block scalar's) are removed.
type edit struct {
	line, col, width int
	word, with       string
	more             int
}

// scalarEdit hides a scalar's text where it stands.
func scalarEdit(lines []string, n *yaml.Node) edit {
	e := edit{line: n.Line, col: n.Column}
	if n.Line < 1 || n.Line > len(lines) {
		return e
	}
	rest := lines[n.Line-1][min(len(lines[n.Line-1]), n.Column-1):]
	switch {
	case n.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0:
		// The indicator line, then the content lines below it.
		e.width = len(rest)
		e.more = strings.Count(strings.TrimRight(n.Value, "\n"), "\n") + 1
	case n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0:
		e.width = quotedLen(rest)
	case strings.HasPrefix(rest, n.Value) && !strings.Contains(n.Value, "\n"):
		e.width = len(n.Value)
	default:
		e.width = len(rest) // a plain scalar over several lines: its first
	}
	return e
}

// quotedLen is the length of the quoted scalar that s starts with, or of
// s when it does not close on this line.
func quotedLen(s string) int {
	if s == "" {
		return 0
	}
	q := s[0]
	for i := 1; i < len(s); i++ {
		switch {
		case q == '"' && s[i] == '\\':
			i++
		case s[i] == q && q == '\'' && i+1 < len(s) && s[i+1] == '\'':
			i++
		case s[i] == q:
			return i + 1
		}
	}
	return len(s)
}

// hideAllValues keeps only the keys of text that does not parse.
func hideAllValues(src string) string {
	lines := strings.Split(src, "\n")
	for i, l := range lines {
		if k, _, ok := strings.Cut(l, ":"); ok && !strings.HasPrefix(strings.TrimSpace(l), "#") {
			lines[i] = k + ": " + Redacted
		}
	}
	return strings.Join(lines, "\n")
}

// canonical is n's settings after ${VAR} expansion, with positions,
// comments and quoting left out: equal for two files that configure the
// same thing.
func canonical(n *yaml.Node, lookup LookupFunc) string {
	var b strings.Builder
	var walk func(n *yaml.Node)
	walk = func(n *yaml.Node) {
		n = resolveAlias(n)
		switch n.Kind {
		case yaml.MappingNode:
			b.WriteByte('{')
			for i := 0; i+1 < len(n.Content); i += 2 {
				walk(n.Content[i])
				b.WriteByte(':')
				walk(n.Content[i+1])
				b.WriteByte(',')
			}
			b.WriteByte('}')
		case yaml.SequenceNode:
			b.WriteByte('[')
			for _, c := range n.Content {
				walk(c)
				b.WriteByte(',')
			}
			b.WriteByte(']')
		case yaml.ScalarNode:
			if n.Tag == "!!null" {
				b.WriteString("null")
				return
			}
			v, err := interpolate(n.Value, lookup)
			if err != nil {
				v = n.Value
			}
			b.WriteString(strconv.Quote(v))
		}
	}
	walk(n)
	return b.String()
}

// StageFingerprint identifies the effective configuration of stage name:
// its settings after ${VAR} expansion and the pipeline settings it depends
// on (kafka, schema_registry, vars, delivery, cursor_topic,
// shutdown_timeout, and the declarations and schema files of the topics it
// uses). Two loads of the same files in the same environment give the same
// fingerprint; any change that could change how the stage runs gives
// another. false when the pipeline has no such stage.
func (p *Config) StageFingerprint(name string) (string, bool) {
	st, topics, ok := p.stageTopics(name)
	if !ok {
		return "", false
	}
	type topicPrint struct {
		Decl        Topic
		Value, Key  string
		ValueFormat string
	}
	decls := map[string]topicPrint{}
	for _, t := range topics {
		d, declared := p.Topics[t]
		if !declared {
			continue
		}
		tp := topicPrint{}
		if d.Value != nil {
			tp.Value = d.Value.Text()
		}
		if d.Key != nil {
			tp.Key = d.Key.Text()
		}
		d.Value, d.Key, d.Pos = nil, nil, Pos{}
		tp.Decl = d
		decls[t] = tp
	}
	pipelineLevel := struct {
		Delivery        Delivery
		DeliverySet     bool
		CursorTopic     string
		ShutdownTimeout Duration
		Vars            string
		Brokers         string
		KafkaConfig     map[string]string
		Registry        [4]string
		Topics          map[string]topicPrint
	}{
		p.Delivery, p.deliverySet, p.CursorTopic, p.ShutdownTimeout, fmt.Sprintf("%#v", p.Vars),
		p.Kafka.Brokers, p.Kafka.Config,
		[4]string{p.SchemaRegistry.URL, p.SchemaRegistry.BasicAuth.Username, p.SchemaRegistry.BasicAuth.Password, p.SchemaRegistry.BearerToken},
		decls,
	}
	if vars, err := json.Marshal(p.Vars); err == nil {
		pipelineLevel.Vars = string(vars) // map keys sorted, unlike %#v
	}
	js, err := json.Marshal(pipelineLevel)
	if err != nil {
		js = fmt.Appendf(nil, "%#v", pipelineLevel)
	}
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%s", st.Path, st.settings, js)
	return hex.EncodeToString(h.Sum(nil)), true
}

// stageTopics finds stage name and the topics it reads or writes, every
// declared topic when a `to` step routes records by expression.
func (p *Config) stageTopics(name string) (*Stage, []string, bool) {
	var st *Stage
	var topics []string
	for i := range p.Sources {
		if s := &p.Sources[i]; s.Name == name {
			st, topics = &s.Stage, []string{s.To}
		}
	}
	for i := range p.Transforms {
		if t := &p.Transforms[i]; t.Name == name {
			st, topics = &t.Stage, append([]string{t.To}, t.From...)
		}
	}
	for i := range p.Sinks {
		if s := &p.Sinks[i]; s.Name == name {
			st, topics = &s.Stage, slices.Clone(s.From)
		}
	}
	if st == nil {
		return nil, nil, false
	}
	if st.OnError.DeadLetter != "" {
		topics = append(topics, st.OnError.DeadLetter)
	}
	topics = append(topics, p.CursorTopic, DefaultCursorTopic)
	for _, s := range st.Steps {
		switch {
		case s.Kind == "to":
			for t := range p.Topics {
				topics = append(topics, t)
			}
		case s.Join != nil:
			topics = append(topics, s.Join.Table)
		case s.JoinTable != nil:
			topics = append(topics, s.JoinTable.With)
		}
	}
	return st, topics, true
}
