package engine

import (
	"context"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/kafka/txn"
)

// errFenced and errTxnAborted are the transactional producer's: see txn.
var (
	errFenced     = txn.ErrFenced
	errTxnAborted = txn.ErrAborted
)

// newTxnProducer starts the stage's transactional producer, counting its
// transactions and passing its statistics on. fencedStops: see
// txn.Options.
func (s *stage) newTxnProducer(ctx context.Context, cm kafka.ConfigMap, fencedStops bool) (*txn.Producer, error) {
	return txn.New(ctx, cm, txn.Options{
		Log:         s.log,
		Stats:       func(e *kafka.Stats) { s.stats.handle("producer", e) },
		Committed:   func() { s.counters.TxnCommits.Add(1) },
		Aborted:     func() { s.counters.TxnAborts.Add(1) },
		FencedStops: fencedStops,
	})
}
