package rdkafka

import "github.com/confluentinc/confluent-kafka-go/v2/kafka"

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
