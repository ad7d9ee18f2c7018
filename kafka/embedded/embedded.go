// Package embedded runs an in-process Kafka-compatible broker for local runs
// and quick tests. Its data lives in memory only and is gone when it stops.
package embedded

import (
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
)

// Broker is a running in-process broker.
type Broker struct {
	cluster *kfake.Cluster
	addr    string
}

// Start listens on addr (host:port; port 0 picks a free one) and serves one
// broker node. Consumer groups accept session timeouts down to 1s so crash
// tests need not wait long for a dead member to leave. Each broker has a
// cluster id of its own: its data dies with it, so offsets stored outside
// it by an earlier run (connectors.TopicID) must never match its topics.
func Start(addr string) (*Broker, error) {
	host, portText, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen address %q: %w", addr, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: listen port %q: %w", portText, err)
	}
	c, err := kfake.NewCluster(
		kfake.NumBrokers(1),
		kfake.Ports(port),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) {
			return net.Listen(network, net.JoinHostPort(host, strconv.Itoa(port)))
		}),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(1),
		kfake.GroupMinSessionTimeout(time.Second),
		kfake.ClusterID(newClusterID()),
	)
	if err != nil {
		return nil, fmt.Errorf("embedded broker: %w", err)
	}
	addrs := c.ListenAddrs()
	if len(addrs) == 0 {
		c.Close()
		return nil, fmt.Errorf("embedded broker: no listener")
	}
	return &Broker{cluster: c, addr: addrs[0]}, nil
}

// Addr is the bootstrap address clients connect to.
func (b *Broker) Addr() string { return b.addr }

// Close stops the broker and drops its data.
func (b *Broker) Close() { b.cluster.Close() }

// newClusterID is a random id (128 bits), marked as an embedded broker's.
func newClusterID() string { return "embedded-" + rand.Text() }
