package connectors

import (
	"context"
	"errors"
	"testing"
)

// TestAckOf: the Ack a context carries counts once, whatever the engine
// calls it with after; without one, AckOf is a no-op.
func TestAckOf(t *testing.T) {
	AckOf(context.Background())(nil) // no Ack: nothing happens, no panic
	var got []error
	ack := AckOf(WithAck(context.Background(), func(err error) { got = append(got, err) }))
	first := errors.New("not delivered")
	ack(first)
	ack(nil)
	if len(got) != 1 || got[0] != first {
		t.Fatalf("ack saw %v, want only the first call", got)
	}
}
