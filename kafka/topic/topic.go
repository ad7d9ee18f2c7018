// Package topic creates the topics a pipeline declares.
package topic

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Spec is a topic a pipeline wants.
type Spec struct {
	Name              string
	Partitions        int
	ReplicationFactor int // -1 for the broker's default
	Config            map[string]string
}

// Mismatch is an existing topic whose partition count differs from its
// declaration. The runner reports it and changes nothing.
type Mismatch struct {
	Name       string
	Want, Have int
}

func (m Mismatch) String() string {
	return fmt.Sprintf("topic %q has %d partitions, the pipeline declares %d; left unchanged", m.Name, m.Have, m.Want)
}

// Ensure creates the missing topics and reports existing ones whose
// partition count differs. Every admin call has a deadline.
func Ensure(ctx context.Context, admin *kafka.AdminClient, specs []Spec) ([]Mismatch, error) {
	if len(specs) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	md, err := admin.GetMetadata(nil, true, 10000)
	if err != nil {
		return nil, fmt.Errorf("read topic metadata: %w", err)
	}
	var create []kafka.TopicSpecification
	var mismatches []Mismatch
	for _, s := range specs {
		if t, ok := md.Topics[s.Name]; ok && t.Error.Code() != kafka.ErrUnknownTopicOrPart {
			if len(t.Partitions) != s.Partitions {
				mismatches = append(mismatches, Mismatch{Name: s.Name, Want: s.Partitions, Have: len(t.Partitions)})
			}
			continue
		}
		create = append(create, kafka.TopicSpecification{
			Topic: s.Name, NumPartitions: s.Partitions, ReplicationFactor: s.ReplicationFactor, Config: s.Config,
		})
	}
	if len(create) == 0 {
		return mismatches, nil
	}
	results, err := admin.CreateTopics(ctx, create)
	if err != nil {
		return mismatches, fmt.Errorf("create topics: %w", err)
	}
	var errs []error
	for _, r := range results {
		if r.Error.Code() != kafka.ErrNoError && r.Error.Code() != kafka.ErrTopicAlreadyExists {
			errs = append(errs, fmt.Errorf("create topic %q: %w", r.Topic, r.Error))
		}
	}
	sort.Slice(mismatches, func(i, j int) bool { return mismatches[i].Name < mismatches[j].Name })
	return mismatches, errors.Join(errs...)
}
