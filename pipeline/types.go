package pipeline

import (
	"gopkg.in/yaml.v3"

	"github.com/conveyor-dev/conveyor/record"
	"github.com/conveyor-dev/conveyor/serde"
)

// DefaultCursorTopic is where sources with a cursor keep it unless the
// pipeline names another (cursor_topic).
const DefaultCursorTopic = "conveyor-cursors"

// Config is one pipeline file after loading and validation.
type Config struct {
	File            string
	Name            string         `yaml:"pipeline" conf:"required"`
	Description     string         `yaml:"description"`
	Delivery        Delivery       `yaml:"delivery"`
	CursorTopic     string         `yaml:"cursor_topic"`
	ShutdownTimeout Duration       `yaml:"shutdown_timeout"`
	Vars            map[string]any `yaml:"vars"`
	Kafka           Kafka          `yaml:"kafka"`
	SchemaRegistry  SchemaRegistry `yaml:"schema_registry"`
	Metrics         Metrics        `yaml:"metrics"`
	Console         Console        `yaml:"console"`
	Topics          TopicDecls     `yaml:"topics"`
	Sources         []Source       `yaml:"sources"`
	Transforms      []Transform    `yaml:"transforms"`
	Sinks           []Sink         `yaml:"sinks"`

	// Positions locate every value read, by YAML path as in errors (a
	// mapping entry by its key), for checks made after loading.
	Positions Positions
	// VarsPos locates the vars section for errors about it.
	VarsPos Pos
	namePos Pos
	// failed holds the paths loading reported problems at.
	failed map[string]bool
	// types are topic types from elsewhere than schema files (SetValueType).
	types map[string]record.Type
	// sourceTypes are sources' record types (SetSourceType).
	sourceTypes map[string]record.Type
	// deliverySet tells an explicit pipeline delivery from the default.
	deliverySet bool
}

// Metrics is where a runner serves its metrics, /healthz and /readyz.
type Metrics struct {
	Listen ListenAddr `yaml:"listen"` // host:port; empty: not served
}

// Console is where a runner serves its web console and control API
// (/api/v1), and the token that mutating API calls need.
type Console struct {
	Listen ListenAddr `yaml:"listen" doc:"host:port to serve the console and the control API on; --console-addr wins; empty: served on the metrics address, if any"`
	Token  string     `yaml:"token" doc:"bearer token that pause, resume, restart, replay and reload calls need (write it as ${VAR}); CONVEYOR_CONSOLE_TOKEN wins; without one the API is read-only"`
}

// Kafka holds the connection settings shared by every stage of a pipeline.
type Kafka struct {
	Brokers string            `yaml:"brokers"`
	Config  map[string]string `yaml:"config"`
	Pos     Pos
}

// SchemaRegistry is the Confluent-compatible registry that the avro,
// json_schema and protobuf formats read and register schemas in. Its
// secrets never appear in messages.
type SchemaRegistry struct {
	URL         string    `yaml:"url" doc:"the registry's base URL, such as http://registry:8081; mock:// is an in-process registry for demos and tests"`
	BasicAuth   BasicAuth `yaml:"basic_auth" doc:"HTTP basic authentication"`
	BearerToken string    `yaml:"bearer_token" doc:"a static bearer token"`
	Pos         Pos
}

// BasicAuth is a user name and password for HTTP basic authentication.
type BasicAuth struct {
	Username string `yaml:"username" conf:"required"`
	Password string `yaml:"password"`
}

// TopicDecls are the topics a file declares, by name. Unlike other keys,
// the names may come from the environment (${VAR}), as the topic names in
// from: and to: may: a topic named by a variable can be declared too.
type TopicDecls map[string]Topic

// Topic declares a topic the runner creates when it is missing.
type Topic struct {
	Partitions        int               `yaml:"partitions"`
	ReplicationFactor int               `yaml:"replication_factor"`
	Config            map[string]string `yaml:"config"`
	// Format is how the topic's values are encoded; a stage's format applies
	// to topics that do not declare one.
	Format Format `yaml:"format"`
	// KeyFormat is how its keys are encoded; empty: raw bytes.
	KeyFormat Format `yaml:"key_format"`
	// ValueSchema and KeySchema are schema files (under schemas/, relative
	// to the pipeline file) that writers serialize with and checks read.
	ValueSchema string `yaml:"value_schema"`
	KeySchema   string `yaml:"key_schema"`
	// Value and Key are the parsed schema files.
	Value, Key serde.Schema
	Pos        Pos
}

// StageKafka is a stage's own librdkafka properties, layered over kafka.config.
type StageKafka struct {
	Config map[string]string `yaml:"config"`
}

// Stage holds what every kind of stage shares.
type Stage struct {
	Name    string
	Path    string // YAML path, for example "transforms.price"
	Pos     Pos
	Steps   []Step     `yaml:"steps"`
	OnError OnError    `yaml:"on_error"`
	Format  Format     `yaml:"format"`
	Kafka   StageKafka `yaml:"kafka"`
	// Delivery defaults to the pipeline's.
	Delivery Delivery `yaml:"delivery"`
	// CommitInterval and CommitRecords bound an exactly-once stage's
	// transactions: each commits after this long or this many records read,
	// whichever comes first.
	CommitInterval Duration `yaml:"commit_interval"`
	CommitRecords  int      `yaml:"commit_records"`

	// Text is the stage's entry as written in its file, before ${VAR}
	// expansion, with secret values replaced by "[redacted]" (see Redact).
	Text string
	// settings is the canonical form of the stage's settings after ${VAR}
	// expansion, for StageFingerprint.
	settings string
}

// Consumer holds the settings of a stage that reads topics.
type Consumer struct {
	From  Topics `yaml:"from" conf:"required"`
	Group string `yaml:"group"`
	Start Start  `yaml:"start"`
	// Rate caps the records per second this stage takes in, per process.
	Rate Rate `yaml:"rate"`
}

// Source reads an external system into a topic.
type Source struct {
	Stage     `yaml:",inline"`
	Key       *Expr     `yaml:"key"`
	To        string    `yaml:"to" conf:"required"`
	Connector Connector `yaml:",connector"`
}

// Transform reads topics, applies steps and writes a topic.
type Transform struct {
	Stage    `yaml:",inline"`
	Consumer `yaml:",inline"`
	To       string `yaml:"to" conf:"required"`
}

// Sink reads topics into an external system.
type Sink struct {
	Stage     `yaml:",inline"`
	Consumer  `yaml:",inline"`
	Connector Connector `yaml:",connector"`
}

// Connector is the one key of a source or sink that names its external
// system (generate, file, stdout, ...). Its body is decoded by the
// connector's own config struct; see Decode.
type Connector struct {
	Kind string
	Node *yaml.Node
	Path string
	Pos  Pos
}

// OnError says what happens to a record that a step or the writer rejects.
type OnError struct {
	Action     ErrorAction
	DeadLetter string
	Pos        Pos
}

// ErrorAction is the action part of on_error.
type ErrorAction string

// The on_error actions.
const (
	Fail       ErrorAction = "fail"
	Drop       ErrorAction = "drop"
	DeadLetter ErrorAction = "dead_letter"
)

// Delivery is a stage's delivery contract.
type Delivery string

// Delivery modes.
const (
	AtLeastOnce Delivery = "at_least_once"
	ExactlyOnce Delivery = "exactly_once"
)

// Start is where a new consumer group begins.
type Start string

// Start positions.
const (
	Earliest Start = "earliest"
	Latest   Start = "latest"
)

// Format is a value encoding: json, string, bytes, or one written through
// a schema registry: avro, json_schema, protobuf.
type Format string

// The formats.
const (
	FormatJSON       Format = "json"
	FormatString     Format = "string"
	FormatBytes      Format = "bytes"
	FormatAvro       Format = "avro"
	FormatJSONSchema Format = "json_schema"
	FormatProtobuf   Format = "protobuf"
)

// Registered reports whether the format goes through a schema registry.
func (f Format) Registered() bool {
	return f == FormatAvro || f == FormatJSONSchema || f == FormatProtobuf
}

// Topics is a list of topic names; YAML accepts one name or a list.
type Topics []string

// Expr is an expression's source text and where it stands in the file.
type Expr struct {
	Src  string
	Path string
	Pos  Pos
	// Col0 is the column of the expression's first character, which differs
	// from Pos.Col for quoted scalars.
	Col0 int
}

// Field is one named expression in an ordered mapping (set, headers).
type Field struct {
	Name string
	Expr Expr
}

// Rename maps one field name to another.
type Rename struct {
	From, To string
	Pos      Pos
}

// Step is one entry of a steps list. Exactly one of the pointer or slice
// fields is set, named by Kind.
type Step struct {
	Kind string
	Path string
	Pos  Pos

	Filter  *Expr
	Assert  *Assert
	Set     []Field
	Map     *Expr
	Drop    []string
	Keep    []string
	Rename  []Rename
	Key     *Expr
	Headers []Field
	To      *Expr
	Explode *Explode
	// Stateful steps (transforms only).
	Join      *Join
	JoinTable *JoinTable
	Aggregate *Aggregate
}

// Assert rejects a record (to on_error) when Expr is false.
type Assert struct {
	Expr    Expr
	Message string
}

// Explode emits one record per element of the list Expr yields, with the
// element stored in field As.
type Explode struct {
	Expr Expr
	As   string
}

// StepKinds lists the step names in the order the reference documents them.
var StepKinds = []string{"filter", "assert", "set", "map", "drop", "keep", "rename", "key", "headers", "to", "explode", "join", "join_table", "aggregate"}

// Stateful reports whether the step keeps state across records.
func (s *Step) Stateful() bool { return s.Join != nil || s.JoinTable != nil || s.Aggregate != nil }
