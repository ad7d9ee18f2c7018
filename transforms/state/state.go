// Package state is where stateful steps keep their keyed state: a join's
// table rows, an aggregate's groups. Each input partition has its own
// Store, as partition N of every topic a stateful stage reads holds the
// same keys.
//
// The steps read and write through Store only, so where the state lives
// (in memory today; on disk, for state beyond memory, later) is chosen by
// whoever opens the stores, without touching the steps or the loop that
// runs them. The state's durable copy is a Kafka topic either way (a table
// topic, or the stage's changelog), which the engine reads back on start.
package state

import "iter"

// Store is the keyed state of one step in one input partition. Values are
// the step's own (a decoded row, an aggregate group); a store that leaves
// memory encodes them. One goroutine uses a store.
type Store interface {
	// Get returns the value stored under key, and false when there is none.
	Get(key []byte) (any, bool)
	// Put stores value under key, replacing what was there. The store
	// keeps no reference to key.
	Put(key []byte, value any)
	// Delete removes key; deleting a missing key does nothing.
	Delete(key []byte)
	// Len is the number of keys stored.
	Len() int
	// All yields every key and value, in no particular order: what an
	// index beside the store (an aggregate's open windows) is rebuilt
	// from. The store must not change while it runs.
	All() iter.Seq2[[]byte, any]
}

// Open returns the empty store of one step (named by the stage's plan, e.g.
// "join users") in one input partition.
type Open func(name string, partition int32) Store

// Memory opens a store kept in a map: the state of a stage whose state fits
// in memory, rebuilt from Kafka on every start.
func Memory(string, int32) Store { return NewMemory() }

// NewMemory returns an empty in-memory store.
func NewMemory() Store { return &memory{m: map[string]any{}} }

type memory struct{ m map[string]any }

// The string(key) conversions in map index expressions do not allocate.
func (s *memory) Get(key []byte) (any, bool) {
	v, ok := s.m[string(key)]
	return v, ok
}

func (s *memory) Put(key []byte, value any) { s.m[string(key)] = value }

func (s *memory) Delete(key []byte) { delete(s.m, string(key)) }

func (s *memory) Len() int { return len(s.m) }

func (s *memory) All() iter.Seq2[[]byte, any] {
	return func(yield func([]byte, any) bool) {
		for k, v := range s.m {
			if !yield([]byte(k), v) {
				return
			}
		}
	}
}
