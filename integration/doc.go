// Package integration holds the tests that run conveyor against a real
// Apache Kafka (single node, and a three-node cluster for broker faults) and
// a real PostgreSQL, started by the project's own scripts unless
// KAFKA_BROKERS / CONVEYOR_PG_DSN point at running ones. In CI (CI=true) a
// service that cannot start fails the run.
package integration
