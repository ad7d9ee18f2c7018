package expression

import (
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
)

// metaName is one reserved record-metadata name.
type metaName uint8

const (
	metaKey metaName = iota
	metaValue
	metaHeaders
	metaTopic
	metaPartition
	metaOffset
	metaTimestamp
	numMeta
)

func (m metaName) String() string {
	switch m {
	case metaKey:
		return "_key"
	case metaValue:
		return "_value"
	case metaHeaders:
		return "_headers"
	case metaTopic:
		return "_topic"
	case metaPartition:
		return "_partition"
	case metaOffset:
		return "_offset"
	case metaTimestamp:
		return "_timestamp"
	}
	return ""
}

func metaByName(name string) (metaName, bool) {
	if len(name) < 2 || name[0] != '_' {
		return 0, false
	}
	for m := range numMeta {
		if m.String() == name {
			return m, true
		}
	}
	return 0, false
}

// IsReserved reports whether name is a record-metadata name (_key, _value,
// _headers, _topic, _partition, _offset, _timestamp). A value field of that
// name is hidden from expressions that mention the metadata.
func IsReserved(name string) bool {
	_, ok := metaByName(name)
	return ok
}

// Env is the record that programs run against. A worker keeps one per
// goroutine and calls Reset for each record; metadata a program needs is
// computed once per record and cached until the next Reset.
type Env struct {
	rec     *record.Record
	cached  uint8 // bit per metaName
	meta    [numMeta]any
	scratch map[string]any
}

// Reset binds the env to r and forgets cached metadata. Call it again after
// changing r's key or headers. Reset(nil) drops the reference to the record.
func (e *Env) Reset(r *record.Record) {
	e.rec = r
	if e.cached != 0 {
		e.cached = 0
		clear(e.meta[:])
	}
}

func (e *Env) metadata(m metaName) any {
	if m == metaValue {
		return e.rec.Value // never cached: steps replace the value
	}
	if e.cached&(1<<m) != 0 {
		return e.meta[m]
	}
	var v any
	switch m {
	case metaKey:
		if e.rec.Key != nil {
			v = string(e.rec.Key)
		}
	case metaHeaders:
		h := make(map[string]any, len(e.rec.Headers))
		for _, hd := range e.rec.Headers {
			h[hd.Key] = string(hd.Value) // the last duplicate wins, as in record.Header
		}
		v = h
	case metaTopic:
		v = e.rec.Topic
	case metaPartition:
		v = int(e.rec.Partition)
	case metaOffset:
		v = int(e.rec.Offset)
	case metaTimestamp:
		v = e.rec.Timestamp
	}
	e.meta[m] = v
	e.cached |= 1 << m
	return v
}

// Machine evaluates programs. It owns an expr VM and a random generator, so
// each goroutine needs its own; make one with Options.NewMachine.
type Machine struct {
	vm   vm.VM
	rng  *rand.Rand
	undo []undo
}

// undo restores one key of the value map after a run.
type undo struct {
	name string
	old  any
	had  bool
}

var errNoRecord = errors.New("expression: Env has no record, call Reset first")

// Run evaluates p against the record env is bound to.
//
// An object value (map[string]any) is itself the variable map: the metadata
// and vars p mentions are added to it for the run and removed afterwards, so
// nothing is copied and a step that sets fields between runs is seen by the
// next run. A non-object value, or a program that reads _value (which must
// not contain itself), runs against a reusable scratch map instead.
//
// Errors and panics during evaluation come back as errors whose message is
// expr's, without the source snippet.
func (m *Machine) Run(p *Program, env *Env) (out any, err error) {
	r := env.rec
	if r == nil {
		return nil, errNoRecord
	}
	fields, isObject := r.Value.(map[string]any)
	useScratch := !isObject || p.readsValue
	var vars map[string]any
	if useScratch {
		if env.scratch == nil {
			env.scratch = make(map[string]any)
		}
		vars = env.scratch
		if isObject {
			maps.Copy(vars, fields)
		}
	} else {
		vars = fields
	}

	saved := m.undo[:0]
	for _, name := range p.meta {
		key := name.String()
		old, had := vars[key]
		saved = append(saved, undo{key, old, had})
		vars[key] = env.metadata(name)
	}
	for _, b := range p.vars {
		if _, taken := vars[b.name]; !taken {
			saved = append(saved, undo{name: b.name})
			vars[b.name] = b.value
		}
	}
	if p.random {
		old, had := vars[randName]
		saved = append(saved, undo{randName, old, had})
		vars[randName] = m.rng
	}

	defer func() {
		// vm.Run recovers panics itself; this second net makes sure no
		// panic ever leaves injected names in the record's value.
		if rec := recover(); rec != nil {
			out, err = nil, fmt.Errorf("expression panicked: %v", rec)
		}
		if useScratch {
			clear(vars)
		} else {
			for i := len(saved) - 1; i >= 0; i-- {
				if u := saved[i]; u.had {
					vars[u.name] = u.old
				} else {
					delete(vars, u.name)
				}
			}
		}
		clear(saved) // drop references to record data
		m.undo = saved[:0]
	}()

	out, err = m.vm.Run(p.prog, vars)
	if err != nil {
		return nil, runtimeError(err)
	}
	return out, nil
}

// RunBool evaluates a program compiled with Kind Bool.
func (m *Machine) RunBool(p *Program, env *Env) (bool, error) {
	out, err := m.Run(p, env)
	if err != nil {
		return false, err
	}
	b, ok := out.(bool)
	if !ok {
		return false, fmt.Errorf("expression %q must return bool, got %s", p.src, TypeName(out))
	}
	return b, nil
}

func runtimeError(err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		return &exprError{msg: explainBigInteger(firstLine(fe.Message)), err: err}
	}
	return err
}
