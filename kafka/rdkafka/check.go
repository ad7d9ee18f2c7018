package rdkafka

/*
#include <stdio.h>
#include <stdlib.h>

// librdkafka's configuration API, from the library confluent-kafka-go links
// into every binary: declared here because confluent-kafka-go offers no way
// to set a property without creating a client, and its header is not on
// the include path. The result of rd_kafka_conf_set is an enum (0: ok).
typedef struct rd_kafka_conf_s rd_kafka_conf_t;
rd_kafka_conf_t *rd_kafka_conf_new(void);
void rd_kafka_conf_destroy(rd_kafka_conf_t *conf);
int rd_kafka_conf_set(rd_kafka_conf_t *conf, const char *name, const char *value, char *errstr, size_t errstr_size);
void rd_kafka_conf_properties_show(FILE *fp);

// conveyor_conf_properties returns librdkafka's table of properties (as in
// its CONFIGURATION.md), to be freed by the caller.
static char *conveyor_conf_properties(size_t *n) {
	char *buf = NULL;
	FILE *f = open_memstream(&buf, n);
	if (f == NULL) {
		return NULL;
	}
	rd_kafka_conf_properties_show(f);
	fclose(f);
	return buf;
}
*/
import "C"

import (
	"errors"
	"maps"
	"regexp"
	"sort"
	"strings"
	"sync"
	"unsafe"

	"github.com/confluentinc/confluent-kafka-go/v2/kafka"
)

// Problem is a property librdkafka does not accept.
type Problem struct {
	Key     string // as written
	Unknown bool   // no such property
	// Reason is librdkafka's message, for an invalid value; it never holds
	// the value of a secret property.
	Reason string
}

// Unchecked properties: the Go client's own (go.*, checked by CheckClient)
// and plugin.library.paths, whose setting loads the library.
func unchecked(key string) bool {
	return strings.HasPrefix(key, "go.") || key == "plugin.library.paths"
}

// CheckProperties sets each property on a fresh librdkafka configuration,
// as creating a client does, without creating one: names and values are
// checked, nothing is started and nothing connects. Problems are sorted by
// key.
func CheckProperties(props map[string]string) []Problem {
	var out []Problem
	for key, value := range props {
		if unchecked(key) {
			continue
		}
		if res, msg := confSet(key, value); res != 0 {
			p := Problem{Key: key, Unknown: res == -2}
			if !p.Unknown {
				p.Reason = hideValue(key, value, strings.TrimSpace(msg))
			}
			out = append(out, p)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out
}

func confSet(key, value string) (int, string) {
	conf := C.rd_kafka_conf_new()
	defer C.rd_kafka_conf_destroy(conf)
	ck, cv := C.CString(key), C.CString(value)
	defer C.free(unsafe.Pointer(ck))
	defer C.free(unsafe.Pointer(cv))
	var errstr [512]C.char
	res := C.rd_kafka_conf_set(conf, ck, cv, &errstr[0], C.size_t(len(errstr)))
	return int(res), C.GoString(&errstr[0])
}

// hideValue keeps a secret's value out of a message about it.
func hideValue(key, value, msg string) string {
	if IsSecret(key) && value != "" && strings.Contains(msg, value) {
		return "librdkafka does not accept the value (not shown: the property is secret)"
	}
	return msg
}

// CheckClient creates a client of the role from cm and closes it at once,
// for the checks librdkafka makes only then (properties that exclude or
// need each other). It stays offline: no bootstrap servers, so nothing to
// connect to, and security.protocol left out, because SSL would load
// certificate files and SASL may fetch tokens (its value is checked by
// CheckProperties). The error has secret values scrubbed.
func CheckClient(role Role, cm kafka.ConfigMap) error {
	c := maps.Clone(cm)
	for _, k := range []string{"bootstrap.servers", "security.protocol", "plugin.library.paths"} {
		delete(c, k)
	}
	// Logs (warnings about properties of the other client kind) go to a
	// channel nobody reads, closed with the client, not to stderr.
	c["go.logs.channel.enable"] = true
	var err error
	switch role {
	case Producer:
		var p *kafka.Producer
		if p, err = kafka.NewProducer(&c); err == nil {
			p.Close()
		}
	case Consumer:
		if _, ok := c["group.id"]; !ok {
			c["group.id"] = "conveyor-check"
		}
		var k *kafka.Consumer
		if k, err = kafka.NewConsumer(&c); err == nil {
			err = k.Close()
		}
	default:
		return nil // an admin client takes a subset of the others' properties
	}
	if err != nil {
		return errors.New(strings.TrimSpace(Scrub(cm, err.Error())))
	}
	return nil
}

// Culprit returns the key of props that a librdkafka message names, by its
// name or the name it is an alias of (compression.type for
// compression.codec), the first one named; false when it names none.
func Culprit(msg string, props map[string]string) (string, bool) {
	best, at := "", len(msg)+1
	for key := range props {
		for _, name := range []string{key, Canonical(key)} {
			if i := indexName(msg, name); i >= 0 && (i < at || i == at && key < best) {
				best, at = key, i
			}
		}
	}
	return best, best != ""
}

// indexName finds name in msg as a whole property name, not as a part of a
// longer one.
func indexName(msg, name string) int {
	isName := func(b byte) bool {
		return b == '.' || b == '_' || b == '-' || b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9'
	}
	for off := 0; ; {
		i := strings.Index(msg[off:], name)
		if i < 0 {
			return -1
		}
		i += off
		end := i + len(name)
		if (i == 0 || !isName(msg[i-1])) && (end == len(msg) || !isName(msg[end]) || msg[end] == '.' && (end+1 == len(msg) || !isName(msg[end+1]))) {
			return i
		}
		off = i + 1
	}
}

// propertyTable is librdkafka's list of properties.
type propertyTable struct {
	names     []string          // sorted
	canonical map[string]string // alias -> the property it stands for
}

var aliasRE = regexp.MustCompile("Alias for `([^`]+)`")

// properties parses librdkafka's own table once; it never changes.
var properties = sync.OnceValue(func() propertyTable {
	t := propertyTable{canonical: map[string]string{}}
	var n C.size_t
	buf := C.conveyor_conf_properties(&n)
	if buf == nil {
		return t
	}
	defer C.free(unsafe.Pointer(buf))
	seen := map[string]bool{}
	for _, line := range strings.Split(C.GoStringN(buf, C.int(n)), "\n") {
		cols := strings.Split(line, "|")
		name := strings.TrimSpace(cols[0])
		if len(cols) < 6 || name == "Property" || strings.HasPrefix(name, "-") || seen[name] {
			continue
		}
		seen[name] = true
		t.names = append(t.names, name)
		if m := aliasRE.FindStringSubmatch(cols[len(cols)-1]); m != nil {
			t.canonical[name] = m[1]
		}
	}
	sort.Strings(t.names)
	return t
})

// Names lists every property librdkafka knows, sorted, for suggestions.
func Names() []string { return properties().names }

// Canonical returns the property an alias stands for, else name.
func Canonical(name string) string {
	if c, ok := properties().canonical[name]; ok {
		return c
	}
	return name
}
