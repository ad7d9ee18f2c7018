// Package membership removes a static member from its consumer group.
//
// A stage's consumer is a static group member (group.instance.id), so a
// process restarted after a crash takes its partitions back at once. But
// librdkafka never sends a LeaveGroup for a static member when it closes
// (KIP-345), so after a clean stop its partitions would wait for the
// session to time out. Leave does what Kafka's
// AdminClient.removeMembersFromConsumerGroup does: a LeaveGroup request
// (v3+) naming the instance, sent through franz-go's client, the only Go
// client here that speaks that request. Its connection settings are taken
// from the librdkafka properties.
package membership

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"

	"github.com/conveyor-dev/conveyor/kafka/rdkafka"
)

// Leave removes the static member instance from group. A member the group
// no longer has (it was fenced or timed out) is no error.
func Leave(ctx context.Context, cm kafka.ConfigMap, group, instance string) error {
	opts, err := Options(cm)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("leave group %s: %w", group, err)
	}
	defer cl.Close()
	req := kmsg.NewPtrLeaveGroupRequest()
	req.Group = group
	m := kmsg.NewLeaveGroupRequestMember()
	m.InstanceID = &instance
	req.Members = append(req.Members, m)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		return fmt.Errorf("leave group %s: %w", group, err)
	}
	if err := kerr.ErrorForCode(resp.ErrorCode); err != nil {
		return fmt.Errorf("leave group %s: %w", group, err)
	}
	for _, m := range resp.Members {
		err := kerr.ErrorForCode(m.ErrorCode)
		if err != nil && !errors.Is(err, kerr.UnknownMemberID) && !errors.Is(err, kerr.FencedInstanceID) {
			return fmt.Errorf("leave group %s as %s: %w", group, instance, err)
		}
	}
	return nil
}

// Options translates the connection settings of a librdkafka config:
// security.protocol plaintext, ssl, sasl_plaintext or sasl_ssl; CA,
// certificate and key as files or PEM; SASL PLAIN and SCRAM. Anything
// else is an error naming the property, never its value.
func Options(cm kafka.ConfigMap) ([]kgo.Opt, error) {
	get := func(k string) string { return rdkafka.String(cm, k) }
	opts := []kgo.Opt{kgo.SeedBrokers(strings.Split(get("bootstrap.servers"), ",")...), kgo.ClientID("conveyor")}
	proto := strings.ToLower(get("security.protocol"))
	switch proto {
	case "", "plaintext", "sasl_plaintext":
	case "ssl", "sasl_ssl":
		cfg, err := tlsConfig(get)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(cfg))
	default:
		return nil, fmt.Errorf("security.protocol %q is not supported for leaving a group", proto)
	}
	if strings.HasPrefix(proto, "sasl_") {
		mech, err := mechanism(get)
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.SASL(mech))
	}
	return opts, nil
}

func mechanism(get func(string) string) (sasl.Mechanism, error) {
	name := get("sasl.mechanism")
	if name == "" {
		name = get("sasl.mechanisms")
	}
	user, pass := get("sasl.username"), get("sasl.password")
	switch strings.ToUpper(name) {
	case "", "PLAIN":
		return plain.Auth{User: user, Pass: pass}.AsMechanism(), nil
	case "SCRAM-SHA-256":
		return scram.Auth{User: user, Pass: pass}.AsSha256Mechanism(), nil
	case "SCRAM-SHA-512":
		return scram.Auth{User: user, Pass: pass}.AsSha512Mechanism(), nil
	}
	return nil, fmt.Errorf("sasl.mechanism %q is not supported for leaving a group", name)
}

func tlsConfig(get func(string) string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if v := get("enable.ssl.certificate.verification"); v == "false" {
		cfg.InsecureSkipVerify = true
	}
	if v := get("ssl.endpoint.identification.algorithm"); v == "none" {
		return nil, errors.New("ssl.endpoint.identification.algorithm none is not supported for leaving a group")
	}
	for _, k := range []string{"ssl.key.password", "ssl.keystore.location", "ssl.engine.location", "ssl.providers"} {
		if get(k) != "" {
			return nil, fmt.Errorf("%s is not supported for leaving a group", k)
		}
	}
	ca, err := pem(get, "ssl.ca.location", "ssl.ca.pem")
	if err != nil {
		return nil, err
	}
	if ca != nil {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(ca) {
			return nil, errors.New("ssl.ca.location/ssl.ca.pem holds no PEM certificate")
		}
		cfg.RootCAs = pool
	}
	cert, err := pem(get, "ssl.certificate.location", "ssl.certificate.pem")
	if err != nil {
		return nil, err
	}
	key, err := pem(get, "ssl.key.location", "ssl.key.pem")
	if err != nil {
		return nil, err
	}
	if cert != nil || key != nil {
		pair, err := tls.X509KeyPair(cert, key)
		if err != nil {
			return nil, fmt.Errorf("ssl certificate and key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}

// pem reads a PEM setting given as a file (location) or inline.
func pem(get func(string) string, location, inline string) ([]byte, error) {
	if v := get(inline); v != "" {
		return []byte(v), nil
	}
	path := get(location)
	if path == "" || path == "probe" {
		return nil, nil // the system's roots
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", location, err)
	}
	return b, nil
}
