package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"golang.org/x/sync/errgroup"
	"golang.org/x/time/rate"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// processor is what an at-least-once stage does with each batch.
type processor interface {
	process(ctx context.Context, batch []item) error
	// finish makes every output of processed batches durable.
	finish(ctx context.Context) error
	// err reports an asynchronous failure (a failed delivery), without waiting.
	err() error
}

// offsetDelivery is at-least-once: batches are processed on a goroutine
// of their own, the tracker follows which records are durable, and their
// offsets are stored for librdkafka's background commits.
type offsetDelivery struct {
	*stage
	proc  processor
	tr    *tracker
	limit *rate.Limiter // nil: no cap

	c       *kafka.Consumer
	batches chan []item
	g       *errgroup.Group
	// runCtx is the stage's; procCtx outlives it by up to the drain
	// period; gctx is procCtx ended early by a processing failure.
	runCtx, procCtx, gctx context.Context
	cancelProc            context.CancelFunc
	stopTimer             func() bool
}

// atLeastOnce makes the consumer loop of an at-least-once stage; batching
// follows the stage's rate cap.
func atLeastOnce(st *stage, cm kafka.ConfigMap, c *pipeline.Consumer, proc processor) *consumer {
	tr := newTracker()
	d := &offsetDelivery{stage: st, proc: proc, tr: tr}
	l := &consumer{stage: st, cm: cm, topics: c.From, d: d, tr: tr, linger: defaultLinger, tickEvery: storeInterval, tickBusy: true}
	d.limit, l.maxBatch = rateCap(c.Rate, defaultMaxBatch)
	return l
}

// rateCap returns the limiter of a stage's `rate:` (nil without one) and
// the batch size to use: a capped stage takes batches of about a tenth of a
// second's worth, so the cap holds smoothly.
func rateCap(r pipeline.Rate, batch int) (*rate.Limiter, int) {
	if r <= 0 {
		return nil, batch
	}
	batch = max(1, min(batch, int(float64(r)/10)))
	return rate.NewLimiter(rate.Limit(r), batch), batch
}

func (d *offsetDelivery) start(ctx context.Context, c *kafka.Consumer) error {
	d.c = c
	d.batches = make(chan []item, 2)
	// Processing outlives ctx by up to the drain period so a shutdown
	// finishes what was read; after that, unfinished records are abandoned
	// uncommitted and the next run reads them again.
	procCtx, cancelProc := context.WithCancel(context.Background())
	d.runCtx, d.procCtx, d.cancelProc = ctx, procCtx, cancelProc
	d.stopTimer = context.AfterFunc(ctx, func() {
		time.AfterFunc(d.drain, cancelProc)
	})
	d.g, d.gctx = errgroup.WithContext(procCtx)
	d.g.Go(func() error {
		for b := range d.batches {
			if d.limit != nil {
				if err := d.limit.WaitN(d.gctx, len(b)); err != nil {
					return err
				}
			}
			start := time.Now()
			if err := d.proc.process(d.gctx, b); err != nil {
				return err
			}
			since(d.counters.batch, start)
		}
		return nil
	})
	return nil
}

// handle hands the batch to the processing goroutine, waiting while it is
// busy: that is the backpressure on reading.
func (d *offsetDelivery) handle(ctx context.Context, batch []item) error {
	select {
	case d.batches <- batch:
		return nil
	case <-ctx.Done():
	case <-d.gctx.Done():
	}
	return errStopped
}

func (d *offsetDelivery) err() error {
	if err := d.proc.err(); err != nil {
		return err
	}
	if d.gctx.Err() != nil {
		return errStopped // processing failed: stop tells how
	}
	return nil
}

func (d *offsetDelivery) busy() bool { return false }

func (d *offsetDelivery) tick(context.Context) error {
	d.stepOverGaps()
	d.store()
	return nil
}

func (d *offsetDelivery) stop(pollErr error) error {
	close(d.batches)
	procErr := d.g.Wait()
	switch {
	case errors.Is(procErr, context.Canceled) && d.runCtx.Err() != nil:
		procErr = fmt.Errorf("%s %s: drain did not finish within %s; unfinished records will be read again", d.kind, d.name, d.drain)
	case errors.Is(procErr, errUnwritten):
		d.log.Warn("stopped while the sink could not write; the records not written are read again on the next start", "problem", d.counters.health.Problem())
		procErr = nil
	}
	finErr := d.proc.finish(d.procCtx)
	commitErr := d.commit()
	return errors.Join(pollErr, procErr, finErr, commitErr)
}

func (d *offsetDelivery) close() {
	d.stopTimer()
	d.cancelProc()
}

// stepOverGaps moves idle partitions past offsets that hold no record
// (transaction markers, compacted gaps), to the consumer's position. Only
// the poll loop may call it, between polls: the position then counts only
// records this loop was handed and tracked. Close, and librdkafka's
// rebalance handling inside it, poll and throw away prefetched records,
// which moves the position past records never processed; a commit from the
// position there lost every such record.
func (d *offsetDelivery) stepOverGaps() {
	if parts, err := d.c.Assignment(); err == nil && len(parts) > 0 {
		if pos, err := d.c.Position(parts); err == nil {
			d.tr.skipTo(pos)
		}
	}
}

// store hands the offsets the tracker confirmed to librdkafka, which commits
// them in the background (auto commit of stored offsets only).
func (d *offsetDelivery) store() {
	offs := d.tr.commitable()
	if len(offs) == 0 {
		return
	}
	if _, err := d.c.StoreOffsets(offs); err != nil {
		// A partition revoked a moment ago refuses its offset; its new
		// owner starts from the last commit, so nothing is lost.
		d.log.Debug("store offsets", "error", err)
	}
}

// commit stores and synchronously commits confirmed offsets.
func (d *offsetDelivery) commit() error {
	defer since(d.counters.commit, time.Now())
	d.store()
	if _, err := d.c.Commit(); err != nil {
		var ke kafka.Error
		if errors.As(err, &ke) && ke.Code() == kafka.ErrNoOffset {
			return nil
		}
		return fmt.Errorf("%s %s: commit offsets: %w", d.kind, d.name, err)
	}
	return nil
}

func (d *offsetDelivery) assigned(c *kafka.Consumer, parts []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	d.tr.release(parts)
	return d.resumePositions(c, parts), nil
}

// revoked finishes in-flight records of the revoked partitions (up to the
// drain period), commits what is durable and lets the partitions go;
// records still unfinished are read again by the new owner.
func (d *offsetDelivery) revoked(_ *kafka.Consumer, parts []kafka.TopicPartition, lost, closing bool, pending []item) {
	if !lost && !closing {
		deadline := time.Now().Add(d.drain)
		if len(pending) > 0 {
			ctx, cancel := context.WithDeadline(context.Background(), deadline)
			_ = d.handle(ctx, pending)
			cancel()
		}
		for d.tr.pending(parts) > 0 && time.Now().Before(deadline) && d.proc.err() == nil {
			time.Sleep(2 * time.Millisecond)
		}
	}
	if !lost {
		if err := d.commit(); err != nil {
			d.log.Warn("commit on revoke", "error", err)
		}
	}
	d.tr.release(parts)
}

// resumePositions starts a partition this process had before at the later
// of the group's commit and what the process itself knows is durable. After
// a lost assignment (a coordinator failover, say) the last commits may have
// failed; every record before the remembered offset had its effect made
// durable, so starting there loses nothing and repeats less.
func (d *offsetDelivery) resumePositions(c *kafka.Consumer, parts []kafka.TopicPartition) []kafka.TopicPartition {
	mem := d.tr.resume(parts)
	if len(mem) == 0 {
		return parts
	}
	committed, err := c.Committed(parts, 10000)
	if err != nil {
		d.log.Debug("read committed offsets on assignment", "error", err)
		return parts
	}
	out := append([]kafka.TopicPartition(nil), parts...)
	for i, tp := range committed {
		off, ok := mem[partitionKey{*tp.Topic, tp.Partition}]
		if ok && off > int64(tp.Offset) {
			out[i].Offset = kafka.Offset(off)
			d.log.Info("resuming past the committed offset: records up to here were already durable", "partition", formatPartitions(out[i:i+1]), "committed", int64(tp.Offset), "offset", off)
		}
	}
	return out
}
