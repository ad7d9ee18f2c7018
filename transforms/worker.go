package transforms

import (
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Worker applies a chain on one goroutine: it owns the expression machine and
// the per-record environment, which are not safe to share.
type Worker struct {
	steps    []step
	machine  *expression.Machine
	env      expression.Env
	filtered uint64
}

// NewWorker returns a worker for one goroutine. With a seeded
// Options.Rand, workers get their random streams in the order they are made.
func (c *Chain) NewWorker() *Worker {
	c.mu.Lock()
	m := c.opts.NewMachine()
	c.mu.Unlock()
	return &Worker{steps: c.steps, machine: m}
}

// Filtered returns how many records filter steps have dropped so far.
func (w *Worker) Filtered() uint64 { return w.filtered }

// Apply runs the steps on r, which it may modify, and appends the resulting
// records to out: none when a filter dropped r (Filtered grows) or an
// explode had an empty list, several after an explode. On error out is
// returned as it was and the error is a *StepError.
func (w *Worker) Apply(r *record.Record, out []*record.Record) ([]*record.Record, error) {
	if len(w.steps) == 0 {
		return append(out, r), nil
	}
	n := len(out)
	out, err := w.apply(r, 0, out)
	w.env.Reset(nil) // keep no reference to the record
	if err != nil {
		clear(out[n:])
		return out[:n], err
	}
	return out, nil
}

func (w *Worker) apply(r *record.Record, from int, out []*record.Record) ([]*record.Record, error) {
	w.env.Reset(r)
	for i := from; i < len(w.steps); i++ {
		s := &w.steps[i]
		switch s.kind {
		case kindFilter:
			keep, err := w.machine.RunBool(s.prog, &w.env)
			if err != nil {
				return out, s.fail(s.name, err)
			}
			if !keep {
				w.filtered++
				return out, nil
			}
		case kindAssert:
			ok, err := w.machine.RunBool(s.prog, &w.env)
			if err != nil {
				return out, s.fail(s.name, err)
			}
			if !ok {
				return out, s.fail(s.name, errors.New(s.message))
			}
		case kindSet:
			if r.Value == nil {
				continue // a tombstone has no fields to set: it passes unchanged
			}
			if err := w.set(s, r); err != nil {
				return out, err
			}
		case kindMap:
			v, err := w.machine.Run(s.prog, &w.env)
			if err == nil {
				v, err = asValue(v, s.clone)
			}
			if err != nil {
				return out, s.fail(s.name, err)
			}
			r.Value = v
		case kindDrop, kindKeep, kindRename:
			if err := edit(s, r); err != nil {
				return out, s.fail(s.name, err)
			}
		case kindKey:
			v, err := w.machine.Run(s.prog, &w.env)
			if err == nil {
				r.Key, err = toBytes(v)
			}
			if err != nil {
				return out, s.fail(s.name, err)
			}
			w.env.Reset(r) // _key changed
		case kindHeaders:
			if err := w.headers(s, r); err != nil {
				return out, err
			}
		case kindTo:
			v, err := w.machine.Run(s.prog, &w.env)
			if err == nil {
				r.To, err = topic(v, s.internal)
			}
			if err != nil {
				return out, s.fail(s.name, err)
			}
		case kindExplode:
			if r.Value == nil {
				continue // a tombstone has no list to explode: it passes unchanged
			}
			return w.explode(s, r, out)
		}
	}
	return append(out, r), nil
}

func (s *step) fail(path string, err error) *StepError {
	return &StepError{Index: s.index, Kind: s.name, Path: path, Err: err}
}

func (w *Worker) set(s *step, r *record.Record) error {
	obj, ok := r.Value.(map[string]any)
	if !ok {
		return s.fail(s.name, fmt.Errorf("set needs an object value, got %s", expression.TypeName(r.Value)))
	}
	for i := range s.fields {
		f := &s.fields[i]
		v, err := w.machine.Run(f.prog, &w.env)
		if err != nil {
			return s.fail(f.path, err)
		}
		obj[f.name] = v
	}
	return nil
}

func (w *Worker) headers(s *step, r *record.Record) error {
	for i := range s.fields {
		f := &s.fields[i]
		v, err := w.machine.Run(f.prog, &w.env)
		if err != nil {
			return s.fail(f.path, err)
		}
		if v == nil {
			r.DeleteHeader(f.name)
		} else {
			b, err := toBytes(v)
			if err != nil {
				return s.fail(f.path, err)
			}
			r.SetHeader(f.name, b)
		}
		w.env.Reset(r) // later expressions see this header in _headers
	}
	return nil
}

// edit runs drop, keep and rename, which need no expressions.
func edit(s *step, r *record.Record) error {
	if r.Value == nil {
		return nil // a tombstone has no fields to edit
	}
	obj, ok := r.Value.(map[string]any)
	if !ok {
		return fmt.Errorf("%s needs an object value, got %s", s.name, expression.TypeName(r.Value))
	}
	switch s.kind {
	case kindDrop:
		for _, name := range s.names {
			delete(obj, name)
		}
	case kindKeep:
		for name := range obj {
			if !slices.Contains(s.names, name) {
				delete(obj, name)
			}
		}
	case kindRename:
		for _, rn := range s.renames {
			if v, ok := obj[rn.From]; ok && rn.From != rn.To {
				delete(obj, rn.From)
				obj[rn.To] = v
			}
		}
	}
	return nil
}

func (w *Worker) explode(s *step, r *record.Record, out []*record.Record) ([]*record.Record, error) {
	obj, ok := r.Value.(map[string]any)
	if !ok {
		return out, s.fail(s.name, fmt.Errorf("explode needs an object value, got %s", expression.TypeName(r.Value)))
	}
	v, err := w.machine.Run(s.prog, &w.env)
	if err != nil {
		return out, s.fail(s.name, err)
	}
	each := func(elem any) error {
		value := make(map[string]any, len(obj)+1)
		maps.Copy(value, obj)
		value[s.as] = elem
		child := *r
		child.Value = value
		child.Headers = slices.Clone(r.Headers) // headers steps edit the slice in place
		out, err = w.apply(&child, s.index+1, out)
		return err
	}
	switch list := v.(type) {
	case []any:
		for _, elem := range list {
			if err := each(elem); err != nil {
				return out, err
			}
		}
		return out, nil
	case nil, []byte, string:
		// bytes and strings are not lists of elements here
	default:
		if rv := reflect.ValueOf(v); rv.Kind() == reflect.Slice || rv.Kind() == reflect.Array {
			for i := range rv.Len() {
				if err := each(rv.Index(i).Interface()); err != nil {
					return out, err
				}
			}
			return out, nil
		}
	}
	return out, s.fail(s.name, fmt.Errorf("explode needs a list, got %s", expression.TypeName(v)))
}
