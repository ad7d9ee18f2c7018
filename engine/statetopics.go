package engine

import "github.com/conveyor-dev/conveyor/pipeline"

// StateTopics are the topics where p's stages keep their own state rather
// than data: the cursor topic and each transform's changelog. Browsers
// show them as internal.
func StateTopics(p *pipeline.Config) []string {
	out := []string{cursorTopicOf(p)}
	for i := range p.Transforms {
		out = append(out, changelogTopic(p.Name, p.Transforms[i].Name))
	}
	return out
}
