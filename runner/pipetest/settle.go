package pipetest

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/record"
)

// sourceWatch follows one source: when its Read started and ended, and how
// many records it emitted.
type sourceWatch struct {
	name     string
	kind     string
	finite   bool // must finish (a source with the option that ends it: generate's count) to settle
	started  atomic.Bool
	finished atomic.Bool
	emitted  atomic.Int64
}

// watched wraps a source to feed its sourceWatch; the variants below keep
// exactly the optional interfaces of the source they wrap, which the engine
// checks by type assertion.
type watched struct {
	connectors.Source
	w *sourceWatch
}

func (s *watched) Read(ctx context.Context, emit connectors.Emit) error {
	s.w.started.Store(true)
	defer s.w.finished.Store(true)
	return s.Source.Read(ctx, func(ctx context.Context, batch []*record.Record, cursor []byte) error {
		s.w.emitted.Add(int64(len(batch)))
		return emit(ctx, batch, cursor)
	})
}

func wrapSource(src connectors.Source, w *sourceWatch) connectors.Source {
	base := &watched{Source: src, w: w}
	r, isR := src.(connectors.Resumer)
	o, isO := src.(connectors.Opener)
	c, isC := src.(connectors.Closer)
	switch {
	case isR && isO && isC:
		return struct {
			*watched
			connectors.Resumer
			connectors.Opener
			connectors.Closer
		}{base, r, o, c}
	case isR && isO:
		return struct {
			*watched
			connectors.Resumer
			connectors.Opener
		}{base, r, o}
	case isR && isC:
		return struct {
			*watched
			connectors.Resumer
			connectors.Closer
		}{base, r, c}
	case isO && isC:
		return struct {
			*watched
			connectors.Opener
			connectors.Closer
		}{base, o, c}
	case isR:
		return struct {
			*watched
			connectors.Resumer
		}{base, r}
	case isO:
		return struct {
			*watched
			connectors.Opener
		}{base, o}
	case isC:
		return struct {
			*watched
			connectors.Closer
		}{base, c}
	}
	return base
}

// watchRegistry wraps every source factory so the sources it builds report
// to the watch registered for their connector path.
func watchRegistry(reg connectors.Registry, watches map[string]*sourceWatch) connectors.Registry {
	out := connectors.Registry{Sinks: reg.Sinks}
	for _, spec := range reg.Sources {
		build := spec.New
		spec.New = func(c pipeline.Connector, env connectors.Env) (connectors.Source, error) {
			src, err := build(c, env)
			if err != nil || src == nil {
				return src, err
			}
			w, ok := watches[c.Path]
			if !ok {
				return src, nil
			}
			return wrapSource(src, w), nil
		}
		out.Sources = append(out.Sources, spec)
	}
	return out
}

// consuming is a stage that reads topics through a consumer group.
type consuming struct {
	what   string // "transform price"
	group  string
	topics []string
}

// settler decides when a running pipeline has settled: every consuming
// stage's group has consumed its input topics to their end (no committed
// record left after the group's committed offset), every finite source
// has finished and every other source has started, and nothing (topic end
// offsets, committed offsets, records emitted by sources) changed for the
// quiet period.
type settler struct {
	brokers   string
	quiet     time.Duration
	consumers []consuming
	sources   []*sourceWatch

	admin *kafka.AdminClient
	probe *kafka.Consumer
	clean map[string]bool // partitions known consumed: topic/partition/committed/end
}

func newSettler(brokers string, quiet time.Duration, consumers []consuming, sources []*sourceWatch) (*settler, error) {
	admin, err := kafka.NewAdminClient(&kafka.ConfigMap{"bootstrap.servers": brokers, "log_level": 3, "client.id": "pipetest", "enable.metrics.push": false})
	if err != nil {
		return nil, err
	}
	probe, err := newProbe(brokers)
	if err != nil {
		admin.Close()
		return nil, err
	}
	return &settler{brokers: brokers, quiet: quiet, consumers: consumers, sources: sources, admin: admin, probe: probe, clean: map[string]bool{}}, nil
}

func (s *settler) close() {
	s.probe.Close()
	s.admin.Close()
}

// wait polls until the pipeline settles (true), ctx ends or stop closes
// (false). pending says what was still moving.
func (s *settler) wait(ctx context.Context, stop <-chan struct{}) (settled bool, pending []string) {
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	lastFP, lastChange := "", time.Now()
	for {
		fp, p, err := s.observe(ctx)
		if err != nil {
			p = append(p, err.Error())
		}
		pending = p
		if fp != lastFP {
			lastFP, lastChange = fp, time.Now()
		}
		if len(pending) == 0 {
			if time.Since(lastChange) >= s.quiet {
				return true, nil
			}
		}
		select {
		case <-ctx.Done():
			if len(pending) == 0 {
				pending = []string{fmt.Sprintf("records kept moving: nothing may change for %s", s.quiet)}
			}
			return false, pending
		case <-stop:
			return false, pending
		case <-t.C:
		}
	}
}

// observe returns a fingerprint of everything that moves, and what keeps
// the pipeline from counting as settled.
func (s *settler) observe(ctx context.Context) (string, []string, error) {
	var fp strings.Builder
	var pending []string
	for _, w := range s.sources {
		fmt.Fprintf(&fp, "source %s %v %v %d\n", w.name, w.started.Load(), w.finished.Load(), w.emitted.Load())
		switch {
		case !w.started.Load():
			pending = append(pending, fmt.Sprintf("source %s has not started", w.name))
		case w.finite && !w.finished.Load():
			pending = append(pending, fmt.Sprintf("source %s has not finished (%d records so far)", w.name, w.emitted.Load()))
		}
	}
	md, err := s.probe.GetMetadata(nil, true, 5000)
	if err != nil {
		return "", pending, fmt.Errorf("metadata: %w", err)
	}
	var names []string
	for name := range md.Topics {
		if !strings.HasPrefix(name, "__") {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	end := map[string]map[int32]int64{}
	for _, name := range names {
		end[name] = map[int32]int64{}
		parts := md.Topics[name].Partitions
		sort.Slice(parts, func(i, j int) bool { return parts[i].ID < parts[j].ID })
		for _, p := range parts {
			_, high, err := s.probe.QueryWatermarkOffsets(name, p.ID, 5000)
			if err != nil {
				return "", pending, fmt.Errorf("end offsets of %s: %w", name, err)
			}
			end[name][p.ID] = high
			fmt.Fprintf(&fp, "%s/%d=%d\n", name, p.ID, high)
		}
	}
	for _, c := range s.consumers {
		var tps []kafka.TopicPartition
		for _, t := range c.topics {
			for p := range end[t] {
				tps = append(tps, kafka.TopicPartition{Topic: &t, Partition: p})
			}
		}
		if len(tps) == 0 {
			continue
		}
		committed, err := s.committed(ctx, c.group, tps)
		if err != nil {
			return "", pending, fmt.Errorf("%s: committed offsets of group %s: %w", c.what, c.group, err)
		}
		sort.Slice(committed, func(i, j int) bool {
			a, b := committed[i], committed[j]
			return *a.Topic < *b.Topic || *a.Topic == *b.Topic && a.Partition < b.Partition
		})
		for _, tp := range committed {
			t, p, off := *tp.Topic, tp.Partition, int64(tp.Offset)
			e := end[t][p]
			fmt.Fprintf(&fp, "%s %s/%d@%d\n", c.group, t, p, off)
			if e == 0 || off >= e {
				continue
			}
			done, err := s.consumed(ctx, t, p, off, e)
			if err != nil {
				return "", pending, err
			}
			if !done {
				at := fmt.Sprint(off)
				if off < 0 {
					at = "nothing"
				}
				pending = append(pending, fmt.Sprintf("%s (group %s) has committed %s of %s[%d], which ends at %d", c.what, c.group, at, t, p, e))
			}
		}
	}
	return fp.String(), pending, nil
}

func (s *settler) committed(ctx context.Context, group string, tps []kafka.TopicPartition) ([]kafka.TopicPartition, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	res, err := s.admin.ListConsumerGroupOffsets(ctx, []kafka.ConsumerGroupTopicPartitions{{Group: group, Partitions: tps}})
	if err != nil {
		return nil, err
	}
	if len(res.ConsumerGroupsTopicPartitions) == 0 {
		return nil, fmt.Errorf("no answer")
	}
	return res.ConsumerGroupsTopicPartitions[0].Partitions, nil
}

// consumed reports whether no committed record lies in [from, end) of a
// partition: the gap is only transaction markers or aborted records. An
// open transaction (the end cannot be reached yet) counts as not consumed.
func (s *settler) consumed(ctx context.Context, t string, p int32, from, end int64) (bool, error) {
	key := fmt.Sprintf("%s/%d/%d/%d", t, p, from, end)
	if s.clean[key] {
		return true, nil
	}
	start := kafka.Offset(from)
	if from < 0 {
		start = kafka.OffsetBeginning
	}
	tp := []kafka.TopicPartition{{Topic: &t, Partition: p, Offset: start}}
	if err := s.probe.Assign(tp); err != nil {
		return false, err
	}
	defer func() { _ = s.probe.Unassign() }()
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		switch ev := s.probe.Poll(50).(type) {
		case *kafka.Message:
			if ev.TopicPartition.Error == nil {
				return false, nil
			}
		}
		pos, err := s.probe.Position(tp)
		if err == nil && len(pos) == 1 && int64(pos[0].Offset) >= end {
			s.clean[key] = true
			return true, nil
		}
	}
	return false, nil
}
