package opensearch

import (
	"bytes"
	"errors"
	"fmt"
	"math"
	"strconv"

	json "github.com/goccy/go-json"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// item is one record's action in a bulk request.
type item struct {
	rec       *record.Record
	index     int    // in the batch
	action    string // index, update or delete
	versioned bool   // sent with an external version
	lines     []byte // the action line and, but for delete, the source line
}

// meta is a bulk action line's body.
type meta struct {
	Index           string `json:"_index"`
	ID              string `json:"_id,omitempty"`
	Version         *int64 `json:"version,omitempty"`
	VersionType     string `json:"version_type,omitempty"`
	RetryOnConflict int    `json:"retry_on_conflict,omitempty"`
}

// upsertDoc is an update's source line.
type upsertDoc struct {
	Doc         json.RawMessage `json:"doc"`
	DocAsUpsert bool            `json:"doc_as_upsert"`
}

// build makes a record's bulk item; nil when the record is a tombstone to
// skip. An error is the record's own: it goes to on_error.
func (s *Sink) build(r *record.Record) (*item, error) {
	tombstone := r.Value == nil
	if tombstone && !s.s.deleteOnNull {
		return nil, nil
	}
	s.env.Reset(r)
	defer s.env.Reset(nil)
	m := meta{Index: s.s.index}
	if s.s.indexExpr != nil {
		v, err := s.m.Run(s.s.indexExpr, &s.env)
		if err != nil {
			return nil, fmt.Errorf("index_expression: %w", err)
		}
		name, ok := v.(string)
		if !ok || name == "" {
			return nil, fmt.Errorf("index_expression gave %s, not an index name", expression.TypeName(v))
		}
		m.Index = name
	}
	id, err := s.id(r)
	if err != nil {
		return nil, err
	}
	m.ID = id
	it := &item{rec: r}
	if s.s.version != versionNone {
		v, err := s.version(r)
		if err != nil {
			return nil, err
		}
		m.Version, m.VersionType, it.versioned = &v, "external", true
	}
	switch {
	case tombstone:
		it.action = "delete"
	case s.s.upsert:
		it.action = "update"
		m.RetryOnConflict = 3 // another writer's update in between is no error
	default:
		it.action = "index"
	}
	if id == "" && (it.action != "index" || it.versioned) {
		return nil, fmt.Errorf("no document id: the record key is null; set id to an expression that gives one")
	}

	var doc []byte
	if !tombstone {
		if doc, err = document(r.Value); err != nil {
			return nil, err
		}
		if s.s.upsert {
			if doc, err = json.Marshal(upsertDoc{Doc: doc, DocAsUpsert: true}); err != nil {
				return nil, fmt.Errorf("encode the update: %w", err)
			}
		}
	}
	head, err := json.Marshal(map[string]meta{it.action: m})
	if err != nil {
		return nil, fmt.Errorf("encode the bulk action: %w", err)
	}
	it.lines = make([]byte, 0, len(head)+len(doc)+2)
	it.lines = append(append(it.lines, head...), '\n')
	if doc != nil {
		it.lines = append(append(it.lines, doc...), '\n')
	}
	return it, nil
}

// id is the record's document id: the id expression's text, or the key's;
// "" for a null key without an id expression.
func (s *Sink) id(r *record.Record) (string, error) {
	if s.s.idExpr == nil {
		return string(r.Key), nil
	}
	v, err := s.m.Run(s.s.idExpr, &s.env)
	if err != nil {
		return "", fmt.Errorf("id: %w", err)
	}
	if i, ok := expression.ExactInt(v); ok {
		return strconv.FormatInt(i, 10), nil
	}
	switch t := v.(type) {
	case string:
		if t == "" {
			return "", errors.New("id gave empty text")
		}
		return t, nil
	case []byte:
		return string(t), nil
	}
	return "", fmt.Errorf("id gave %s, not text or an integer", expression.TypeName(v))
}

// version is the record's external version.
func (s *Sink) version(r *record.Record) (int64, error) {
	if s.s.version == versionOffset {
		return r.Offset, nil
	}
	v, err := s.m.Run(s.s.versionExpr, &s.env)
	if err != nil {
		return 0, fmt.Errorf("version_expression: %w", err)
	}
	if f, ok := v.(float64); ok && f == math.Trunc(f) && f >= 0 && f < 1<<62 {
		return int64(f), nil
	}
	i, ok := expression.ExactInt(v)
	if !ok || i < 0 {
		return 0, fmt.Errorf("version_expression gave %v, not an integer of 0 or more", v)
	}
	return i, nil
}

// document is the record value as a JSON object.
func document(v any) ([]byte, error) {
	switch t := v.(type) {
	case map[string]any:
		b, err := record.JSON.Encode(t)
		if err != nil {
			return nil, fmt.Errorf("encode the value as JSON: %w", err)
		}
		return bytes.TrimRight(b, "\n"), nil
	case []byte:
		return rawDocument(t)
	case string:
		// A value read with format string may hold a JSON object all
		// the same.
		return rawDocument([]byte(t))
	}
	return nil, fmt.Errorf("the value is %s, not an object: a document must be one", expression.TypeName(v))
}

// rawDocument is a JSON object given as bytes, compacted onto one line as
// the bulk format needs.
func rawDocument(b []byte) ([]byte, error) {
	var out bytes.Buffer
	if !bytes.HasPrefix(bytes.TrimSpace(b), []byte("{")) || json.Compact(&out, b) != nil {
		return nil, errors.New("the value is not a JSON object: a document must be one")
	}
	return out.Bytes(), nil
}

func bytesReader(b []byte) *bytes.Reader { return bytes.NewReader(b) }
