package rdkafka

import (
	"reflect"
	"strings"
	"testing"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

func TestCheckProperties(t *testing.T) {
	got := CheckProperties(map[string]string{
		"sasl.pasword":         "hunter2",
		"session.timeout.ms":   "soon",
		"compression.type":     "zip",
		"linger.ms":            "5",
		"acks":                 "all",
		"sasl.password":        "hunter2",
		"go.delivery.reports":  "true",            // the Go client's: CheckClient's business
		"plugin.library.paths": "/nonexistent.so", // setting it would load the library
	})
	want := []Problem{
		{Key: "compression.type", Reason: `Invalid value "zip" for configuration property "compression.codec"`},
		{Key: "sasl.pasword", Unknown: true},
		{Key: "session.timeout.ms", Reason: `Invalid value for configuration property "session.timeout.ms"`},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got  %+v\nwant %+v", got, want)
	}
}

func TestHideValue(t *testing.T) {
	msg := `Invalid value "hunter2" for configuration property "x"`
	if got := hideValue("sasl.password", "hunter2", msg); strings.Contains(got, "hunter2") {
		t.Errorf("a secret's value shows: %q", got)
	}
	if got := hideValue("client.id", "hunter2", msg); got != msg {
		t.Errorf("a plain value is hidden: %q", got)
	}
}

func TestCulprit(t *testing.T) {
	for _, tc := range []struct {
		msg   string
		props map[string]string
		want  string
	}{
		{`Invalid value "zip" for configuration property "compression.codec"`, map[string]string{"compression.type": "zip", "linger.ms": "5"}, "compression.type"},
		{"`session.timeout.ms` is not supported for `group.protocol=consumer`", map[string]string{"group.protocol": "consumer", "session.timeout.ms": "6000"}, "session.timeout.ms"},
		{"go.delivery.reports expects type bool, not string", map[string]string{"go.delivery.reports": "maybe"}, "go.delivery.reports"},
		{`Invalid value for configuration property "request.required.acks"`, map[string]string{"acks": "x"}, "acks"},
		// A name inside a longer one is not named.
		{`Invalid value for configuration property "ssl.key.password"`, map[string]string{"ssl.key": "x", "key.password": "y"}, ""},
	} {
		if got, _ := Culprit(tc.msg, tc.props); got != tc.want {
			t.Errorf("Culprit(%q) = %q, want %q", tc.msg, got, tc.want)
		}
	}
}

func TestCheckClient(t *testing.T) {
	global := map[string]string{"sasl.password": "hunter2-canary", "session.timeout.ms": "6000"}
	for _, role := range []Role{Producer, Consumer} {
		if err := CheckClient(role, Build(role, "unreachable.invalid:9092", global, nil, nil)); err != nil {
			t.Errorf("role %d, defaults: %v", role, err)
		}
	}
	// SSL would load the files at creation: left to the real run.
	ssl := Build(Producer, "b:9093", map[string]string{"security.protocol": "ssl", "ssl.ca.location": "/nonexistent/ca.pem"}, nil, nil)
	if err := CheckClient(Producer, ssl); err != nil {
		t.Errorf("ssl files are read at check time: %v", err)
	}
	err := CheckClient(Consumer, Build(Consumer, "b:9092", global, map[string]string{"group.protocol": "consumer"}, nil))
	if err == nil || !strings.Contains(err.Error(), "`session.timeout.ms` is not supported for `group.protocol=consumer`") {
		t.Fatalf("group.protocol=consumer with session.timeout.ms: %v", err)
	}
	err = CheckClient(Producer, kafka.ConfigMap{"transactional.id": "t", "enable.idempotence": "false", "sasl.password": "hunter2-canary"})
	if err == nil || strings.Contains(err.Error(), "hunter2-canary") {
		t.Fatalf("transactional.id without idempotence: %v", err)
	}
}
