package httpsource

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"strings"

	"github.com/conveyor-dev/conveyor/record"
)

// bodyKind is how a request body holds its records.
type bodyKind int

const (
	sniffed  bodyKind = iota // no telling Content-Type: look at the body
	document                 // one JSON value; an array holds one record per element
	lines                    // NDJSON: one JSON value per non-blank line
)

// kindOf reads a Content-Type header. Anything but JSON or NDJSON (none,
// text/plain, application/octet-stream: what curl -d and many clients send)
// is sniffed.
func kindOf(contentType string) bodyKind {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return sniffed
	}
	switch {
	case mt == "application/json" || strings.HasSuffix(mt, "+json"):
		return document
	case mt == "application/x-ndjson", mt == "application/ndjson", mt == "application/jsonl",
		mt == "application/x-jsonlines", mt == "application/jsonlines":
		return lines
	}
	return sniffed
}

// BadRecord names a record of a request that cannot be written, in a 400
// answer.
type BadRecord struct {
	// Index counts the request's records from 0: array elements, or
	// non-blank lines.
	Index int `json:"index"`
	// Line is the record's line, from 1, for NDJSON.
	Line   int    `json:"line,omitempty"`
	Reason string `json:"reason"`
}

// parseBody returns the values of the records body holds, or the bad ones
// (each named), or an error saying why the body as a whole is not records.
func parseBody(body []byte, kind bodyKind) ([]any, []BadRecord, error) {
	trimmed := bytes.TrimSpace(body)
	if len(trimmed) == 0 {
		return nil, nil, errors.New("the body is empty: send one JSON value, a JSON array of them, or one per line (NDJSON)")
	}
	if kind == sniffed {
		kind = sniff(trimmed)
	}
	if kind == lines {
		vals, bad := parseLines(body)
		return vals, bad, nil
	}
	return parseDocument(trimmed)
}

// sniff tells a JSON document from NDJSON: an array or a body on one line is
// a document, and so is a body that parses as one (a pretty-printed object).
func sniff(trimmed []byte) bodyKind {
	if trimmed[0] == '[' || bytes.IndexByte(trimmed, '\n') < 0 {
		return document
	}
	if _, err := record.DecodeJSON(trimmed); err == nil {
		return document
	}
	return lines
}

// parseDocument reads one JSON value: an array's elements are the records,
// anything else is one.
func parseDocument(doc []byte) ([]any, []BadRecord, error) {
	v, err := record.DecodeJSON(doc)
	if err != nil {
		if doc[0] == '[' {
			if bad := badElement(doc); bad != nil {
				return nil, []BadRecord{*bad}, nil
			}
		}
		return nil, nil, fmt.Errorf("the body is not JSON: %s", reason(err))
	}
	elems, isArray := v.([]any)
	if !isArray {
		elems = []any{v}
	}
	var bad []BadRecord
	for i, e := range elems {
		if e == nil {
			bad = append(bad, BadRecord{Index: i, Reason: "null is not a record"})
		}
	}
	if bad != nil {
		return nil, bad, nil
	}
	return elems, nil, nil
}

// badElement finds the element of a JSON array that is not JSON, for an
// answer naming it; nil when the array itself is broken (no closing
// bracket, say).
func badElement(doc []byte) *BadRecord {
	d := json.NewDecoder(bytes.NewReader(doc))
	if _, err := d.Token(); err != nil { // [
		return nil
	}
	for i := 0; d.More(); i++ {
		var raw json.RawMessage
		if err := d.Decode(&raw); err != nil {
			return &BadRecord{Index: i, Reason: "not JSON: " + err.Error()}
		}
	}
	return nil
}

// parseLines reads NDJSON: every non-blank line is a record.
func parseLines(body []byte) ([]any, []BadRecord) {
	var vals []any
	var bad []BadRecord
	index := 0
	for n := 1; len(body) > 0; n++ {
		line := body
		if i := bytes.IndexByte(body, '\n'); i >= 0 {
			line, body = body[:i], body[i+1:]
		} else {
			body = nil
		}
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		v, err := record.DecodeJSON(line)
		switch {
		case err != nil:
			bad = append(bad, BadRecord{Index: index, Line: n, Reason: "not JSON: " + reason(err)})
		case v == nil:
			bad = append(bad, BadRecord{Index: index, Line: n, Reason: "null is not a record"})
		case bad == nil:
			vals = append(vals, v)
		}
		index++
	}
	if bad != nil {
		return nil, bad
	}
	return vals, nil
}

// reason is a decode error without the decoder's prefix.
func reason(err error) string {
	return strings.TrimPrefix(err.Error(), "decode json: ")
}
