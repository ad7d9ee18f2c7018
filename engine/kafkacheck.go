package engine

import (
	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
	"github.com/conveyor-dev/conveyor/pipeline"
)

// propSection is one kafka.config mapping of a file: the pipeline's or a
// stage's.
type propSection struct {
	path  string // YAML path of the mapping
	at    pipeline.Pos
	props map[string]string
}

// checkKafka reports, at their keys, the librdkafka properties of the
// pipeline and its stages that librdkafka would refuse when the runner
// creates its clients: names and values first, then, when those pass, what
// librdkafka checks only on creating a client. It stays offline.
func checkKafka(p *pipeline.Config, errs *pipeline.Errors) {
	global := propSection{path: "kafka.config", at: p.Kafka.Pos, props: p.Kafka.Config}
	var stages []propSection
	for _, st := range stagesOf(p) {
		if len(st.Kafka.Config) > 0 {
			stages = append(stages, propSection{path: st.Path + ".kafka.config", at: st.Pos, props: st.Kafka.Config})
		}
	}
	bad := false
	for _, s := range append([]propSection{global}, stages...) {
		for _, pr := range rdkafka.CheckProperties(s.props) {
			bad = true
			path := s.path + "." + pr.Key
			if p.Failed(path) {
				continue // an unset variable, say: reported already
			}
			at := p.Positions.Of(path, s.at)
			if pr.Unknown {
				errs.Addf(at, path, "unknown librdkafka property%s", pipeline.DidYouMean(pr.Key, rdkafka.Names()))
			} else {
				errs.Addf(at, path, "librdkafka refuses the value: %s", pr.Reason)
			}
		}
	}
	if bad {
		return // creating a client would stop at the same properties
	}
	if len(global.props) == 0 && len(stages) == 0 {
		return // the runner's defaults alone: nothing of the file to check
	}
	if !checkClients(p, global, nil, errs) {
		return // the stages' clients would fail alike
	}
	for i := range stages {
		checkClients(p, global, &stages[i], errs)
	}
}

// checkClients creates and closes a producer and a consumer with the
// settings a stage (nil: one without its own kafka.config) gets, and
// reports the first refusal at the property it names; false after one.
func checkClients(p *pipeline.Config, global propSection, stage *propSection, errs *pipeline.Errors) bool {
	var stageProps map[string]string
	where := global
	if stage != nil {
		stageProps, where = stage.props, *stage
	}
	for _, role := range []rdkafka.Role{rdkafka.Producer, rdkafka.Consumer} {
		err := rdkafka.CheckClient(role, rdkafka.Build(role, "", global.props, stageProps, nil))
		if err == nil {
			continue
		}
		path := where.path
		if k, ok := rdkafka.Culprit(err.Error(), where.props); ok {
			path += "." + k
		} else if k, ok := rdkafka.Culprit(err.Error(), global.props); ok {
			path = global.path + "." + k
		}
		errs.Addf(p.Positions.Of(path, where.at), path, "librdkafka refuses the %s settings: %v", roleName(role), err)
		return false
	}
	return true
}

func roleName(r rdkafka.Role) string {
	if r == rdkafka.Producer {
		return "producer"
	}
	return "consumer"
}

// stagesOf lists every stage of the pipeline, in file order per section.
func stagesOf(p *pipeline.Config) []*pipeline.Stage {
	var out []*pipeline.Stage
	for i := range p.Sources {
		out = append(out, &p.Sources[i].Stage)
	}
	for i := range p.Transforms {
		out = append(out, &p.Transforms[i].Stage)
	}
	for i := range p.Sinks {
		out = append(out, &p.Sinks[i].Stage)
	}
	return out
}
