package engine

import (
	"context"
	"errors"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/transforms"
)

// transformProc applies steps to each record and produces the results.
// A record is done when every output (or its dead letter) is delivered.
type transformProc struct {
	*stage
	tr   *tracker
	prod *producer
	to   string
	w    *transforms.Worker
	outs []*record.Record
	// copyOnly is set for a stage without steps: records are forwarded
	// byte for byte, never decoded.
	copyOnly bool
}

func (p *transformProc) process(ctx context.Context, batch []item) error {
	for _, it := range batch {
		if !p.tr.live(it.e) {
			continue // revoked: the partition's new owner reads it again
		}
		p.counters.In.Add(1)
		if err := p.one(ctx, it); err != nil {
			return err
		}
		p.tr.done(it.e) // the hold taken when the record was read
	}
	return p.prod.err()
}

func (p *transformProc) one(ctx context.Context, it item) error {
	if p.copyOnly {
		return p.copy(ctx, it)
	}
	rec, err := p.toRecord(ctx, it.m)
	if err != nil {
		if stopped(err) {
			return err
		}
		return p.bad(ctx, it, "decode", err)
	}
	p.outs, err = p.w.Apply(rec, p.outs[:0])
	if err != nil {
		return p.bad(ctx, it, stepName(err), err)
	}
	if len(p.outs) == 0 {
		p.counters.Filtered.Add(1)
	}
	for _, o := range p.outs {
		m, err := p.toMessage(ctx, o, p.to)
		if err != nil {
			if stopped(err) {
				return err
			}
			if err := p.bad(ctx, it, "encode", err); err != nil {
				return err
			}
			continue
		}
		p.tr.hold(it.e, 1)
		if err := p.prod.produce(ctx, m, it.e); err != nil {
			p.tr.done(it.e)
			if !errors.Is(err, errPermanent) {
				return err
			}
			if err := p.bad(ctx, it, "produce", err); err != nil {
				return err
			}
			continue
		}
		p.counters.Out.Add(1)
	}
	return nil
}

// copy forwards a record unchanged (key, value bytes, headers, timestamp):
// a transform without steps has nothing to decode the value for.
func (p *transformProc) copy(ctx context.Context, it item) error {
	topic := p.to
	m := &kafka.Message{
		TopicPartition: kafka.TopicPartition{Topic: &topic, Partition: kafka.PartitionAny},
		Key:            it.m.Key,
		Value:          it.m.Value,
		Headers:        it.m.Headers,
		Timestamp:      it.m.Timestamp,
	}
	p.tr.hold(it.e, 1)
	if err := p.prod.produce(ctx, m, it.e); err != nil {
		p.tr.done(it.e)
		if !errors.Is(err, errPermanent) {
			return err
		}
		return p.bad(ctx, it, "produce", err)
	}
	p.counters.Out.Add(1)
	return nil
}

// bad applies on_error; the record's offset stays uncommitted when it fails.
func (p *transformProc) bad(ctx context.Context, it item, step string, err error) error {
	b := badRecord{rec: p.original(it.m), step: step, err: err}
	return p.reject(ctx, b, p.prod, it.e, func() { p.tr.hold(it.e, 1) })
}

func (p *transformProc) finish(ctx context.Context) error { return p.prod.flush(ctx) }

func (p *transformProc) err() error { return p.prod.err() }

type transformRun struct {
	*stage
	cfg         *pipeline.Transform
	consumerCM  kafka.ConfigMap
	newProducer func() (*producer, error)
}

func (r *transformRun) run(ctx context.Context) error {
	prod, err := r.newProducer()
	if err != nil {
		return fmt.Errorf("transform %s: %w", r.name, err)
	}
	proc := &transformProc{stage: r.stage, prod: prod, to: r.cfg.To, w: r.chain.NewWorker(), copyOnly: r.chain.Len() == 0}
	l := atLeastOnce(r.stage, r.consumerCM, &r.cfg.Consumer, proc)
	proc.tr = l.tr
	runErr := l.run(ctx)
	drainCtx, cancel := context.WithTimeout(context.Background(), r.drain)
	defer cancel()
	return errors.Join(runErr, prod.close(drainCtx))
}
