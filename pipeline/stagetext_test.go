package pipeline

import (
	"strings"
	"testing"
)

func parseEnv(t *testing.T, src string, env map[string]string) *Config {
	t.Helper()
	p, err := Parse("p.yaml", []byte(src), Options{
		Lookup: func(k string) (string, bool) { v, ok := env[k]; return v, ok },
		Kinds:  Kinds{Sources: []string{"generate"}, Sinks: []string{"stdout"}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

const textSrc = `pipeline: shop
kafka: {brokers: '${B}'}
sources:
  gen:   # the generator
    generate: {value: '{"n": 1}'}
    kafka:
      config:
        sasl.password: hunter22
        sasl.username: ${USER}
        ssl.key.password: "quoted secret"
        ssl.keystore.location: /etc/ks.p12
        linger.ms: 5
    to: orders

  # a comment about the next stage
transforms:
  t1:
    from: orders
    kafka: {config: {sasl.jaas.config: 'org.Foo required password="x";', client.id: c1}}
    steps:
      - set: {url: '"postgres://app:s3cret@db/shop"'}
      - filter: |
          n > 0
    to: out
sinks:
  out:
    from: out
    stdout: {}
    kafka:
      config:
        sasl.password: ${PW}
        ssl.key.pem: |
          -----BEGIN KEY-----
          abcdef
          -----END KEY-----
        basic.auth: ok
`

func TestStageText(t *testing.T) {
	p := parseEnv(t, textSrc, map[string]string{"B": "k:9092", "USER": "bob", "PW": "pw"})
	want := map[string]string{
		"gen": `gen:   # the generator
  generate: {value: '{"n": 1}'}
  kafka:
    config:
      sasl.password: [redacted]
      sasl.username: ${USER}
      ssl.key.password: [redacted]
      ssl.keystore.location: /etc/ks.p12
      linger.ms: 5
  to: orders
`,
		"t1": `t1:
  from: orders
  kafka: {config: {sasl.jaas.config: [redacted], client.id: c1}}
  steps:
    - set: {url: '"postgres://app:[redacted]@db/shop"'}
    - filter: |
        n > 0
  to: out
`,
		"out": `out:
  from: out
  stdout: {}
  kafka:
    config:
      sasl.password: ${PW}
      ssl.key.pem: [redacted]
      basic.auth: ok
`,
	}
	got := map[string]string{"gen": p.Sources[0].Text, "t1": p.Transforms[0].Text, "out": p.Sinks[0].Text}
	for name, w := range want {
		if got[name] != w {
			t.Errorf("stage %s text:\n%s\nwant:\n%s", name, got[name], w)
		}
		for _, secret := range []string{"hunter22", "quoted secret", "s3cret", "abcdef", `password="x"`} {
			if strings.Contains(got[name], secret) {
				t.Errorf("stage %s shows the secret %q", name, secret)
			}
		}
	}
}

func TestRedact(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"dsn: postgres://u:p@h/db\n", "dsn: [redacted]\n"},
		{"dsn: ${PG_DSN}\n", "dsn: ${PG_DSN}\n"},
		{"dsn: ${PG_DSN:-postgres://u:pw@h/db}\n", "dsn: [redacted]\n"},
		{"url: 'http://u:pass1@h:1/x' # c\n", "url: 'http://u:[redacted]@h:1/x' # c\n"},
		{"basic_auth: {username: u, password: 'p w'}\n", "basic_auth: {username: u, password: [redacted]}\n"},
		{"bearer_token: \"a\\\"b\"\nx: 1\n", "bearer_token: [redacted]\nx: 1\n"},
		{"credentials:\n  user: a\n  key: b\n", "credentials:\n  user: [redacted]\n  key: [redacted]\n"},
		{"a: [unclosed\n", "a: [redacted]\n"},
		{"headers: {X-Api-Key: k1, Authorization: Basic x, X-Source: c}\n", "headers: {X-Api-Key: [redacted], Authorization: [redacted], X-Source: c}\n"},
	} {
		if got := Redact(tc.in); got != tc.want {
			t.Errorf("Redact(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

const printSrc = `pipeline: shop
kafka: {brokers: '${B}'}
vars: {limit: 3}
topics:
  orders: {partitions: 3}
  out: {partitions: 3}
  other: {partitions: 1}
sources:
  gen:
    generate: {value: '{"n": 1}', rate: '${RATE}'}
    to: orders
transforms:
  t1:
    from: orders
    steps:
      - filter: n < limit
    to: out
`

func TestStageFingerprint(t *testing.T) {
	env := map[string]string{"B": "k:9092", "RATE": "10"}
	print := func(src string, env map[string]string, stage string) string {
		t.Helper()
		fp, ok := parseEnv(t, src, env).StageFingerprint(stage)
		if !ok {
			t.Fatalf("no stage %s", stage)
		}
		return fp
	}
	base := map[string]string{"gen": print(printSrc, env, "gen"), "t1": print(printSrc, env, "t1")}
	if base["gen"] == base["t1"] {
		t.Fatal("two stages share a fingerprint")
	}
	for _, tc := range []struct {
		name    string
		src     string
		env     map[string]string
		changed map[string]bool
	}{
		{"comments and layout", strings.ReplaceAll(printSrc, "    to: orders", "    # where\n    to:   \"orders\""), env, nil},
		{"another topic's declaration", strings.Replace(printSrc, "other: {partitions: 1}", "other: {partitions: 2}", 1), env, nil},
		{"an environment variable of the stage", printSrc, map[string]string{"B": "k:9092", "RATE": "20"}, map[string]bool{"gen": true}},
		{"the stage's steps", strings.Replace(printSrc, "n < limit", "n <= limit", 1), env, map[string]bool{"t1": true}},
		{"vars", strings.Replace(printSrc, "limit: 3", "limit: 4", 1), env, map[string]bool{"gen": true, "t1": true}},
		{"brokers", printSrc, map[string]string{"B": "k:9093", "RATE": "10"}, map[string]bool{"gen": true, "t1": true}},
		{"a topic it writes", strings.Replace(printSrc, "out: {partitions: 3}", "out: {partitions: 6}", 1), env, map[string]bool{"t1": true}},
		{"shutdown_timeout", strings.Replace(printSrc, "vars:", "shutdown_timeout: 3s\nvars:", 1), env, map[string]bool{"gen": true, "t1": true}},
	} {
		for _, stage := range []string{"gen", "t1"} {
			if changed := print(tc.src, tc.env, stage) != base[stage]; changed != tc.changed[stage] {
				t.Errorf("%s: stage %s changed = %v, want %v", tc.name, stage, changed, tc.changed[stage])
			}
		}
	}
}
