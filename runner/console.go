package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/conveyor-dev/conveyor/control"
	"github.com/conveyor-dev/conveyor/engine"
	"github.com/conveyor-dev/conveyor/engine/browse"
	"github.com/conveyor-dev/conveyor/engine/deadletter"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/serde"
)

// consoleFlag checks --console-addr (or CONVEYOR_CONSOLE_ADDR) before
// anything loads, as metricsFlag does.
func consoleFlag(flag string) (pipeline.ListenAddr, error) {
	if flag == "" {
		return "", nil
	}
	addr, err := pipeline.ParseListenAddr(flag)
	if err != nil {
		return "", &exitError{code: exitUsage, err: fmt.Errorf("runner: --console-addr (or CONVEYOR_CONSOLE_ADDR): %w", err)}
	}
	return addr, nil
}

// consoleAddr is the flag's address, else the first file's console.listen;
// "" serves the console on the metrics address (if any).
func consoleAddr(flag pipeline.ListenAddr, pipes []*pipeline.Config) pipeline.ListenAddr {
	if flag != "" {
		return flag
	}
	for _, p := range pipes {
		if p.Console.Listen != "" {
			return p.Console.Listen
		}
	}
	return ""
}

// consoleToken is CONVEYOR_CONSOLE_TOKEN, else the first file's
// console.token; "" leaves the API read-only.
func consoleToken(pipes []*pipeline.Config) string {
	if t := os.Getenv("CONVEYOR_CONSOLE_TOKEN"); t != "" {
		return t
	}
	for _, p := range pipes {
		if p.Console.Token != "" {
			return p.Console.Token
		}
	}
	return ""
}

// browsers hands the console one topic browser and one dead-letter reader
// per pipeline, made on first use and remade when a reload gives the
// pipeline a new config.
type browsers struct {
	run  *engine.Run
	regs *engine.Registries
	log  *slog.Logger

	mu      sync.Mutex
	clients map[string]*pipelineClients // by pipeline name
}

type pipelineClients struct {
	cfg     *pipeline.Config
	browse  *browse.Client
	letters deadletter.Options
}

func (b *browsers) get(p *pipeline.Config) (*pipelineClients, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if pc, ok := b.clients[p.Name]; ok && pc.cfg == p {
		return pc, nil
	}
	brokers, err := b.run.Brokers(p)
	if err != nil {
		return nil, err
	}
	var reg *serde.Registry
	if p.SchemaRegistry.URL != "" {
		if reg, err = b.regs.Get(p.SchemaRegistry); err != nil {
			return nil, err
		}
	}
	o := browse.PipelineOptions(p, reg)
	o.Brokers, o.Log = brokers, b.log
	c, err := browse.New(o)
	if err != nil {
		return nil, err
	}
	pc := &pipelineClients{cfg: p, browse: c, letters: deadletter.Options{Brokers: brokers, Config: p.Kafka.Config, Log: b.log}}
	if reg != nil {
		if pc.letters.Decode, err = wireDecoder(reg); err != nil {
			c.Close()
			return nil, err
		}
	}
	if old, ok := b.clients[p.Name]; ok {
		old.browse.Close() // a reload gave the pipeline a new config
	}
	if b.clients == nil {
		b.clients = map[string]*pipelineClients{}
	}
	b.clients[p.Name] = pc
	return pc, nil
}

func (b *browsers) close() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, pc := range b.clients {
		pc.browse.Close()
	}
	b.clients = nil
}

func (b *browsers) cluster(p *pipeline.Config) (control.Cluster, error) {
	pc, err := b.get(p)
	if err != nil {
		return nil, err
	}
	return clusterView{pc.browse}, nil
}

func (b *browsers) deadLetters(p *pipeline.Config) (control.DeadLetters, error) {
	pc, err := b.get(p)
	if err != nil {
		return nil, err
	}
	return letterView{pc.letters}, nil
}

// clusterView is a browse.Client as the control API asks for it.
type clusterView struct{ c *browse.Client }

func (v clusterView) Topics(ctx context.Context, names []string) ([]control.Topic, error) {
	all, err := v.c.Topics(ctx)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	var out []control.Topic
	for _, t := range all {
		if !want[t.Name] {
			continue
		}
		ct := control.Topic{Name: t.Name, Records: t.Records, Internal: t.Internal}
		for _, p := range t.Partitions {
			ct.Partitions = append(ct.Partitions, control.TopicPartition{Partition: p.Partition, Start: p.Start, End: p.End, Records: p.Records, Leader: p.Leader})
		}
		out = append(out, ct)
	}
	return out, nil
}

// maxPage bounds a page of records when the query gives no limit.
const maxPage = 100

func (v clusterView) Records(ctx context.Context, q control.RecordQuery) (control.RecordPage, error) {
	o := browse.ReadOptions{Topic: q.Topic, Partition: browse.AllPartitions, Limit: q.Limit, Where: q.Where, Raw: q.Raw}
	if o.Limit <= 0 {
		o.Limit = maxPage
	}
	if q.Partition != nil {
		o.Partition = *q.Partition
	}
	switch q.From {
	case control.FromBeginning, control.FromEnd, "":
		o.From = string(q.From)
	case control.FromOffset:
		o.From = "offset:" + strconv.FormatInt(q.Offset, 10)
	case control.FromTime:
		o.From = "time:" + q.Time.Format(time.RFC3339Nano)
	case control.FromNext:
		o.From = "next:" + browse.Position(q.Next).String()
	}
	page := control.RecordPage{Records: []control.Record{}}
	next, err := v.c.Read(ctx, o, func(r browse.Record) error {
		cr := control.Record{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Timestamp: r.Timestamp,
			RawKey: r.RawKey, RawValue: r.RawValue, DecodeError: r.DecodeError, Headers: []control.Header{}}
		if r.Key != nil {
			cr.Key = *r.Key
		}
		if r.Value != nil { // a tombstone stays a JSON null, not an empty raw message
			cr.Value = r.Value
		}
		for _, h := range r.Headers {
			cr.Headers = append(cr.Headers, control.Header{Key: h.Key, Value: h.Value})
		}
		page.Records = append(page.Records, cr)
		return nil
	})
	if err != nil {
		return page, browseErr(err)
	}
	page.Next = next.String()
	return page, nil
}

func (v clusterView) Groups(ctx context.Context, ids []string) ([]control.GroupSummary, error) {
	gs, err := v.c.GroupsOf(ctx, ids)
	if err != nil {
		return nil, browseErr(err)
	}
	out := make([]control.GroupSummary, len(gs))
	for i, g := range gs {
		out[i] = control.GroupSummary{Group: g.Group, State: g.State, Members: g.Members, Lag: g.Lag}
	}
	return out, nil
}

func (v clusterView) Group(ctx context.Context, id string) (control.Group, error) {
	g, err := v.c.Group(ctx, id)
	if err != nil {
		return control.Group{}, browseErr(err)
	}
	out := control.Group{Group: g.Group, State: g.State, Members: []control.GroupMember{}, Offsets: []control.GroupOffset{}}
	for _, m := range g.Members {
		cm := control.GroupMember{MemberID: m.MemberID, ClientID: m.ClientID, Host: m.Host, InstanceID: m.InstanceID, Assignment: []control.PartitionRef{}}
		for _, a := range m.Assignment {
			cm.Assignment = append(cm.Assignment, control.PartitionRef{Topic: a.Topic, Partition: a.Partition})
		}
		out.Members = append(out.Members, cm)
	}
	for _, o := range g.Offsets {
		out.Offsets = append(out.Offsets, control.GroupOffset{Topic: o.Topic, Partition: o.Partition, Committed: o.Committed, End: o.End, Lag: o.Lag})
	}
	return out, nil
}

// browseErr gives browse's errors the control API's meaning.
func browseErr(err error) error {
	var ue *browse.UsageError
	switch {
	case errors.As(err, &ue):
		return &control.QueryError{Err: err}
	case errors.Is(err, browse.ErrNoTopic), errors.Is(err, browse.ErrNoGroup):
		return fmt.Errorf("%w: %w", control.ErrNotFound, err)
	}
	return err
}

// letterView is package deadletter (the code of runner dlq) as the
// control API asks for it.
type letterView struct{ o deadletter.Options }

func (v letterView) Letters(ctx context.Context, topic string, limit int) ([]control.Letter, error) {
	out := []control.Letter{}
	_, err := deadletter.Read(ctx, v.o, topic, limit, func(l deadletter.Letter) error {
		cl := control.Letter{Partition: l.Partition, Offset: l.Offset, Timestamp: l.Timestamp, Headers: []control.Header{}}
		if l.Key != nil {
			cl.Key = string(l.Key)
		}
		if l.Value != nil {
			cl.Value = l.Record().Value
		}
		if e := l.Error(); e != nil {
			cl.Error = &control.LetterError{Pipeline: e.Pipeline, Stage: e.Stage, Step: e.Step, Message: e.Message,
				Topic: e.Topic, Partition: e.Partition, Offset: e.Offset, Time: e.Time}
		}
		for _, h := range l.Headers {
			cl.Headers = append(cl.Headers, control.Header{Key: h.Key, Value: string(h.Value)})
		}
		out = append(out, cl)
		return nil
	})
	return out, err
}

func (v letterView) Replay(ctx context.Context, r control.ReplayRequest) (control.ReplayResult, error) {
	n, err := deadletter.Replay(ctx, v.o, deadletter.ReplayOptions{From: r.From, To: r.To, Group: r.Group, Where: r.Where, DryRun: r.DryRun})
	var ue *deadletter.UsageError
	if errors.As(err, &ue) {
		return control.ReplayResult{}, &control.QueryError{Err: err}
	}
	return control.ReplayResult{Replayed: n.Replayed, Skipped: n.Skipped, DryRun: r.DryRun}, err
}
