package connectors

import (
	"context"
	"sync"
)

// Ack is told once what became of a batch a source emitted: nil when every
// record of it is acknowledged by Kafka (its outputs, and the dead letters
// of its bad records; a record the steps filtered or on_error dropped needs
// nothing), or the error that means it may not be. A source that answers a
// client (the http source) answers only then; other sources never need it.
type Ack func(err error)

type ackKey struct{}

// WithAck returns ctx carrying ack, for a source to pass to emit: the
// engine calls ack exactly once for the batch of that emit call, on any
// goroutine, after emit returned or from within it. Like
// net/http/httptrace, a context value keeps Emit's signature, and every
// other source, as it is.
func WithAck(ctx context.Context, ack Ack) context.Context {
	return context.WithValue(ctx, ackKey{}, ack)
}

// AckOf returns the Ack ctx carries, made safe to call more than once (only
// the first call counts), or a no-op when it carries none.
func AckOf(ctx context.Context) Ack {
	ack, _ := ctx.Value(ackKey{}).(Ack)
	if ack == nil {
		return func(error) {}
	}
	var once sync.Once
	return func(err error) { once.Do(func() { ack(err) }) }
}
