package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// sinkProc applies steps and writes each batch to the sink; every record of
// a batch is done once the write returns.
type sinkProc struct {
	*stage
	tr    *tracker
	sink  connectors.Sink
	prod  *producer // only for dead letters; nil without them
	w     *transforms.Worker
	recs  []*record.Record
	owner []item // owner[i] is the input record of recs[i]
	outs  []*record.Record
	stop  <-chan struct{} // closed when the stage is asked to stop
}

func (p *sinkProc) process(ctx context.Context, batch []item) error {
	p.recs, p.owner = p.recs[:0], p.owner[:0]
	var live []item
	for _, it := range batch {
		if !p.tr.live(it.e) {
			continue
		}
		live = append(live, it)
		p.counters.In.Add(1)
		rec, err := p.toRecord(ctx, it.m)
		if err != nil {
			if stopped(err) {
				return err
			}
			if err := p.bad(ctx, it, "decode", err); err != nil {
				return err
			}
			continue
		}
		p.outs, err = p.w.Apply(rec, p.outs[:0])
		if err != nil {
			if err := p.bad(ctx, it, stepName(err), err); err != nil {
				return err
			}
			continue
		}
		if len(p.outs) == 0 {
			p.counters.Filtered.Add(1)
		}
		for _, o := range p.outs {
			p.recs = append(p.recs, o)
			p.owner = append(p.owner, it)
		}
	}
	if err := p.write(ctx); err != nil {
		return err
	}
	for _, it := range live {
		p.tr.done(it.e)
	}
	return p.err()
}

// write retries transient errors with backoff until ctx ends and splits off
// records the sink rejects for good.
func (p *sinkProc) write(ctx context.Context) error {
	if len(p.recs) == 0 {
		return nil
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval = 100*time.Millisecond, 10*time.Second
	_, err := backoff.Retry(ctx, func() (struct{}, error) {
		err := p.sink.Write(ctx, p.recs)
		var re *connectors.RecordError
		if errors.As(err, &re) && re.Index >= 0 && re.Index < len(p.recs) {
			if err := p.bad(ctx, p.owner[re.Index], "write", re.Err); err != nil {
				return struct{}{}, backoff.Permanent(err)
			}
			p.recs = append(p.recs[:re.Index], p.recs[re.Index+1:]...)
			p.owner = append(p.owner[:re.Index], p.owner[re.Index+1:]...)
			b.Reset()
			if len(p.recs) == 0 {
				return struct{}{}, nil
			}
			return struct{}{}, backoff.RetryAfter(0)
		}
		if err != nil {
			p.counters.health.Down("writes fail and are retried: " + err.Error())
			p.warnWrite(err)
			if stopping(p.stop) {
				// Stopping: the batch stays uncommitted and is read
				// again, rather than holding the stop for the whole
				// drain period against a system that is down.
				return struct{}{}, backoff.Permanent(errUnwritten)
			}
		}
		return struct{}{}, err
	}, backoff.WithBackOff(b), backoff.WithMaxElapsedTime(0))
	if err != nil {
		return fmt.Errorf("sink %s: write: %w", p.name, err)
	}
	p.counters.health.Up()
	p.counters.Out.Add(int64(len(p.recs)))
	return nil
}

// errUnwritten: a stopping sink gave up a batch it could not write; its
// records are not committed and are read again on the next start.
var errUnwritten = errors.New("stopped before the batch could be written")

// stopping reports whether ch (a stop signal) is closed.
func stopping(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (p *sinkProc) warnWrite(err error) {
	if ok, held := p.dropLog.allow(); ok {
		p.log.Warn("sink write failed; retrying, nothing is committed meanwhile", "error", err, "repeats_unlogged", held)
	}
}

func (p *sinkProc) bad(ctx context.Context, it item, step string, err error) error {
	b := badRecord{rec: p.original(it.m), step: step, err: err}
	return p.reject(ctx, b, p.prod, it.e, func() { p.tr.hold(it.e, 1) })
}

func (p *sinkProc) finish(ctx context.Context) error {
	if p.prod == nil {
		return nil
	}
	return p.prod.flush(ctx)
}

func (p *sinkProc) err() error {
	if p.prod == nil {
		return nil
	}
	return p.prod.err()
}

// original rebuilds a consumed record's metadata, key, raw value and headers
// exactly as read, for a dead letter.
func (s *stage) original(m *kafka.Message) *record.Record {
	r := &record.Record{
		Key: m.Key, Raw: m.Value, Topic: *m.TopicPartition.Topic,
		Partition: m.TopicPartition.Partition, Offset: int64(m.TopicPartition.Offset), Timestamp: m.Timestamp,
	}
	for _, h := range m.Headers {
		r.Headers = append(r.Headers, record.Header{Key: h.Key, Value: h.Value})
	}
	return r
}

type sinkRun struct {
	*stage
	cfg         *pipeline.Sink
	sink        connectors.Sink
	consumerCM  kafka.ConfigMap
	newProducer func() (*producer, error)
	own         *ownStore // set when the sink stores its offsets itself
}

func (r *sinkRun) run(ctx context.Context) error {
	var prod *producer
	if r.newProducer != nil {
		p, err := r.newProducer()
		if err != nil {
			return fmt.Errorf("sink %s: %w", r.name, err)
		}
		prod = p
	}
	if o, ok := r.sink.(connectors.Opener); ok {
		if err := o.Open(ctx); err != nil {
			return fmt.Errorf("sink %s: open: %w", r.name, err)
		}
	}
	runErr := r.consumer(ctx, prod).run(ctx)
	var closeErr error
	if prod != nil {
		drainCtx, cancel := context.WithTimeout(context.Background(), r.drain)
		closeErr = prod.close(drainCtx)
		cancel()
	}
	if err := r.sink.Close(); err != nil {
		if r.own != nil {
			r.log.Warn("close sink", "error", err)
		} else {
			closeErr = errors.Join(closeErr, fmt.Errorf("sink %s: close: %w", r.name, err))
		}
	}
	return errors.Join(runErr, closeErr)
}

// consumer is the sink's consumer loop, batching as the sink asks.
func (r *sinkRun) consumer(ctx context.Context, prod *producer) *consumer {
	b, batcher := r.sink.(connectors.Batcher)
	sized := func(maxBatch int, linger time.Duration) (int, time.Duration) {
		if batcher {
			if n := b.BatchSize(); n > 0 {
				maxBatch = n
			}
			if d := b.FlushInterval(); d > 0 {
				linger = d
			}
		}
		return maxBatch, linger
	}
	if r.own != nil {
		maxBatch, linger := sized(defaultMaxBatch, defaultLinger)
		r.own.limit, maxBatch = rateCap(r.cfg.Rate, maxBatch)
		return ownStoreLoop(r.own, r.consumerCM, r.cfg.From, maxBatch, linger)
	}
	proc := &sinkProc{stage: r.stage, sink: r.sink, prod: prod, w: r.chain.NewWorker(), stop: ctx.Done()}
	l := atLeastOnce(r.stage, r.consumerCM, &r.cfg.Consumer, proc)
	proc.tr = l.tr
	if r.cfg.Rate == 0 {
		l.maxBatch, l.linger = sized(l.maxBatch, l.linger)
	}
	return l
}
