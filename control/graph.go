package control

import (
	"slices"
	"sort"

	"github.com/conveyor-dev/conveyor/pipeline/graph"
)

// Graph is one pipeline's stage graph, as runner plan shows it.
type Graph struct {
	Stages []GraphStage `json:"stages"`
	// Topics are the topics the pipeline's stages read or write, by name.
	Topics []GraphTopic `json:"topics"`
}

// GraphStage is a stage and the topics it reads and writes.
type GraphStage struct {
	Name      string `json:"name"`
	Kind      string `json:"kind"`
	Connector string `json:"connector,omitempty"`
	// Detail is what the connector points at, as written (never a DSN).
	Detail   string      `json:"detail,omitempty"`
	Delivery string      `json:"delivery"`
	Group    string      `json:"group,omitempty"`
	Reads    []GraphEdge `json:"reads"`
	Writes   []GraphEdge `json:"writes"`
}

// GraphEdge is a stage's use of a topic: kind is one of from, table, to,
// dynamic (a topic a `to` step can name), dead letter, changelog, cursor.
type GraphEdge struct {
	Topic string `json:"topic"`
	Kind  string `json:"kind"`
}

// GraphTopic is a topic of the graph.
type GraphTopic struct {
	Name        string `json:"name"`
	Internal    bool   `json:"internal"`     // only the runner writes it
	External    bool   `json:"external"`     // read, but no stage writes it
	DeadLetters bool   `json:"dead_letters"` // some stage dead-letters to it
}

// pipelineGraph is pipeline p's part of g.
func pipelineGraph(g *graph.Graph, p string) Graph {
	out := Graph{Stages: []GraphStage{}, Topics: []GraphTopic{}}
	for _, st := range stagesOf(g, p) {
		gs := GraphStage{
			Name: st.Name, Kind: string(st.Kind), Connector: st.Connector, Detail: st.Detail,
			Delivery: string(st.Delivery), Group: st.Group,
			Reads: []GraphEdge{}, Writes: []GraphEdge{},
		}
		for _, e := range st.Reads {
			gs.Reads = append(gs.Reads, GraphEdge{Topic: e.Topic, Kind: string(e.Kind)})
		}
		for _, e := range st.Writes {
			gs.Writes = append(gs.Writes, GraphEdge{Topic: e.Topic, Kind: string(e.Kind)})
		}
		for _, r := range st.Routes {
			for _, t := range r.Topics {
				e := GraphEdge{Topic: t, Kind: string(graph.Dynamic)}
				if !slices.Contains(gs.Writes, e) && !slices.Contains(gs.Writes, GraphEdge{Topic: t, Kind: string(graph.To)}) {
					gs.Writes = append(gs.Writes, e)
				}
			}
		}
		out.Stages = append(out.Stages, gs)
	}
	for _, name := range pipelineTopics(g, p) {
		t := g.Topic(name)
		out.Topics = append(out.Topics, GraphTopic{Name: name, Internal: t.Internal(), External: t.External(), DeadLetters: t.DeadLetters()})
	}
	return out
}

func stagesOf(g *graph.Graph, p string) []*graph.Stage {
	for _, gp := range g.Pipelines {
		if gp.Name == p {
			return gp.Stages
		}
	}
	return nil
}

// pipelineTopics are the topics pipeline p's stages read or write (routes
// included), sorted.
func pipelineTopics(g *graph.Graph, p string) []string {
	seen := map[string]bool{}
	for _, st := range stagesOf(g, p) {
		for _, e := range slices.Concat(st.Reads, st.Writes) {
			seen[e.Topic] = true
		}
		for _, r := range st.Routes {
			for _, t := range r.Topics {
				seen[t] = true
			}
		}
	}
	names := make([]string, 0, len(seen))
	for t := range seen {
		if t != "" && g.Topic(t) != nil {
			names = append(names, t)
		}
	}
	sort.Strings(names)
	return names
}

// pipelineGroups are the consumer groups of pipeline p's stages, in file
// order.
func pipelineGroups(g *graph.Graph, p string) []string {
	var out []string
	for _, st := range stagesOf(g, p) {
		if st.Group != "" && !slices.Contains(out, st.Group) {
			out = append(out, st.Group)
		}
	}
	return nonNil(out)
}

// pipelineDeadLetters are the topics pipeline p's stages dead-letter to,
// sorted, each with the stages that do; Records is -1 (unknown).
func pipelineDeadLetters(g *graph.Graph, p string) []DeadLetterTopic {
	var out []DeadLetterTopic
	for _, name := range pipelineTopics(g, p) {
		d := DeadLetterTopic{Topic: name, Stages: []string{}, Records: -1}
		for _, u := range g.Topic(name).Writers {
			if u.Kind == graph.DeadLetter && u.Stage.Pipeline == p {
				d.Stages = append(d.Stages, u.Stage.Name)
			}
		}
		if len(d.Stages) > 0 {
			out = append(out, d)
		}
	}
	return nonNil(out)
}
