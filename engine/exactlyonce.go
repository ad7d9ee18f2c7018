package engine

import (
	"maps"
	"strconv"

	"github.com/conveyor-dev/conveyor/pipeline"
)

// defaultTxnTimeout is how long the broker keeps a transaction whose
// producer went silent before it aborts it. It stays under the consumer
// session timeout (librdkafka's default is 45 s) so a crashed process's
// open transaction is aborted by the time the group has moved its
// partitions, and read_committed readers are held up no longer than that.
const defaultTxnTimeout = 10000

// exactlyOnceConsumer is what an exactly-once transform's consumer needs:
// no automatic commits (offsets go with transactions) and only committed
// records.
var exactlyOnceConsumer = map[string]string{
	"enable.auto.commit": "false",
	"isolation.level":    "read_committed",
}

// staticMember makes a stage's consumer a static group member named after
// pipeline, stage and instance, so a process restarted after a crash takes
// its partitions back at once instead of waiting for the dead member's
// session to time out. A user's own group.instance.id wins (an empty one,
// which the consumer's config drops, turns static membership off).
func staticMember(p *pipeline.Config, st *pipeline.Stage, instance string) map[string]string {
	if _, set := stageKafkaConfig(p, st)["group.instance.id"]; set {
		return nil
	}
	return map[string]string{"group.instance.id": transactionalID(p.Name, st.Name, instance)}
}

// transactionalID is stable per pipeline, stage and instance: a restarted
// process registers the same id and so fences its predecessor, aborting
// whatever transaction it left open. Without an instance it is the stage's
// alone, for a stage one process at a time runs (a shared source).
func transactionalID(pipeline, stage, instance string) string {
	if instance == "" {
		return "conveyor." + pipeline + "." + stage
	}
	return "conveyor." + pipeline + "." + stage + "." + instance
}

// exactlyOnceProducer is what an exactly-once stage's producer needs. The
// transaction timeout is the user's, or the default kept under the
// session timeout.
func exactlyOnceProducer(p *pipeline.Config, st *pipeline.Stage, instance string) map[string]string {
	m := map[string]string{
		"transactional.id":    transactionalID(p.Name, st.Name, instance),
		"go.delivery.reports": "false", // a commit reports any failed delivery
	}
	user := stageKafkaConfig(p, st)
	if _, set := user["transaction.timeout.ms"]; !set {
		timeout := defaultTxnTimeout
		if s, err := strconv.Atoi(user["session.timeout.ms"]); err == nil && s <= timeout {
			timeout = max(1000, s/2)
		}
		m["transaction.timeout.ms"] = strconv.Itoa(timeout)
	}
	return m
}

// stageKafkaConfig is the librdkafka properties a stage gets from the
// pipeline and from itself.
func stageKafkaConfig(p *pipeline.Config, st *pipeline.Stage) map[string]string {
	m := maps.Clone(p.Kafka.Config)
	if m == nil {
		m = map[string]string{}
	}
	maps.Copy(m, st.Kafka.Config)
	return m
}

// checkExactlyOnce reports settings that would quietly break a stage's
// exactly-once contract.
func checkExactlyOnce(p *pipeline.Config, st *pipeline.Stage, errs *pipeline.Errors) {
	if st.Delivery != pipeline.ExactlyOnce {
		return
	}
	at := st.Path + ".delivery"
	user := stageKafkaConfig(p, st)
	if v, ok := user["isolation.level"]; ok && v != "read_committed" {
		errs.Addf(st.Pos, at, "exactly_once reads only committed records, but kafka.config sets isolation.level: %s; remove it", v)
	}
	if v, ok := user["enable.idempotence"]; ok && v != "true" {
		errs.Addf(st.Pos, at, "exactly_once needs an idempotent producer, but kafka.config sets enable.idempotence: %s; remove it", v)
	}
	if _, ok := user["transactional.id"]; ok {
		errs.Addf(st.Pos, at, "exactly_once sets transactional.id itself (from pipeline, stage and --instance); remove it from kafka.config")
	}
	txn, terr := strconv.Atoi(user["transaction.timeout.ms"])
	session, serr := strconv.Atoi(user["session.timeout.ms"])
	if serr != nil {
		session = 45000 // librdkafka's default
	}
	if terr == nil && txn >= session {
		errs.Addf(st.Pos, at, "transaction.timeout.ms (%d) must be shorter than session.timeout.ms (%d): a crashed process's transaction must end before its partitions move", txn, session)
	}
}
