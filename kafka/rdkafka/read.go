package rdkafka

import (
	"context"
	"fmt"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Reached reports whether c's position on every one of parts is at or past
// end[partition]. The position is what counts, not the offset of the last
// record returned: transaction markers and aborted records take offsets
// but are never returned, so after a transactional write the last record
// is never the end.
func Reached(c *kafka.Consumer, parts []kafka.TopicPartition, end map[int32]int64) bool {
	pos, err := c.Position(parts)
	if err != nil {
		return false
	}
	for _, tp := range pos {
		if int64(tp.Offset) < end[tp.Partition] {
			return false
		}
	}
	return true
}

// ReadTo assigns parts (one topic, each from its Offset) to c and calls fn
// with every record before end[partition], returning once the position of
// each is there (see Reached). c is used for nothing else meanwhile.
func ReadTo(ctx context.Context, c *kafka.Consumer, parts []kafka.TopicPartition, end map[int32]int64, fn func(*kafka.Message) error) error {
	if len(parts) == 0 {
		return nil
	}
	topic := *parts[0].Topic
	if err := c.Assign(parts); err != nil {
		return fmt.Errorf("read %s: %w", topic, err)
	}
	for !Reached(c, parts, end) {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("read %s: %w", topic, err)
		}
		switch e := c.Poll(100).(type) {
		case *kafka.Message:
			tp := e.TopicPartition
			if tp.Error != nil {
				return fmt.Errorf("read %s[%d]: %w", topic, tp.Partition, tp.Error)
			}
			if int64(tp.Offset) >= end[tp.Partition] {
				continue // written after the end was taken
			}
			if err := fn(e); err != nil {
				return err
			}
		case kafka.Error:
			if e.IsFatal() {
				return fmt.Errorf("read %s: %w", topic, e)
			}
		}
	}
	return nil
}
