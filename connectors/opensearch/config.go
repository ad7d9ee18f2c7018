package opensearch

import (
	"fmt"
	"net/url"
	"regexp"
	"time"

	"github.com/conveyor-dev/conveyor/connectors"
	"github.com/conveyor-dev/conveyor/pipeline"
	"github.com/conveyor-dev/conveyor/transforms/expression"
)

// Config is the `opensearch:` block of a sink, as written in the pipeline file.
type Config struct {
	URL               string            `yaml:"url" defaultdoc:"none" example:"http://localhost:9200" doc:"the node to send to; or urls for several (one of the two is required); credentials written in the URL are taken out of it and used as username and password"`
	URLs              []string          `yaml:"urls" defaultdoc:"none" example:"[https://os-1:9200, https://os-2:9200]" doc:"the nodes to send to, in turn"`
	Index             string            `yaml:"index" defaultdoc:"none" example:"rewards" doc:"the index every document goes to; or index_expression (one of the two is required)"`
	IndexExpression   pipeline.Expr     `yaml:"index_expression" defaultdoc:"none" example:"'\"rewards-\" + format_time(_timestamp, \"2006.01.02\")'" doc:"an expression giving each record's index, for daily indices and the like; a record whose expression fails or gives no text goes to on_error"`
	ID                pipeline.Expr     `yaml:"id" defaultdoc:"the record key as text" example:"string(user_id)" doc:"an expression giving the document id (text or an integer); a record with a null key and no id is indexed under an id OpenSearch picks (action index without version only)"`
	Action            string            `yaml:"action" default:"index" enum:"index,upsert" doc:"index: the record value replaces the document; upsert: its fields are merged into the document, which is created when missing (update with doc_as_upsert)"`
	DeleteOnTombstone bool              `yaml:"delete_on_tombstone" default:"true" doc:"a null value deletes the document with its id; false: tombstones are skipped"`
	Version           string            `yaml:"version" default:"none" enum:"none,offset,expression" doc:"external versioning: offset: the record's Kafka offset is the document's version, expression: version_expression is; a write older than the document is a version conflict, counted as done, so a replay never overwrites newer data (action index only)"`
	VersionExpression pipeline.Expr     `yaml:"version_expression" defaultdoc:"none" example:"updated_ms" doc:"with version: expression, an integer expression (0 or more) giving each record's version"`
	Username          string            `yaml:"username" defaultdoc:"none" example:"conveyor" doc:"basic authentication"`
	Password          string            `yaml:"password" defaultdoc:"none" example:"${OPENSEARCH_PASSWORD}" doc:"basic authentication; never appears in logs or errors"`
	Token             string            `yaml:"token" defaultdoc:"none" example:"${OPENSEARCH_TOKEN}" doc:"bearer token sent as Authorization: Bearer; never appears in logs or errors"`
	TLSInsecure       bool              `yaml:"tls_insecure" default:"false" doc:"skip checking the server's TLS certificate (test clusters with self-signed certificates only)"`
	Timeout           pipeline.Duration `yaml:"timeout" default:"30s" doc:"how long one bulk request may take before it is retried"`
	BatchSize         int               `yaml:"batch_size" default:"1000" doc:"most records per batch (the stage reads batches of this size)"`
	MaxBytes          int               `yaml:"max_bytes" default:"5242880" doc:"most bytes of one bulk request; a batch larger than this is sent as several requests"`
	FlushInterval     pipeline.Duration `yaml:"flush_interval" default:"100ms" doc:"how long the stage waits to fill a batch"`
	MaxRetries        int               `yaml:"max_retries" default:"5" doc:"retries, with backoff, of a request that failed (network, 429, 5xx) or of the items that failed with 429 or 5xx before the batch is handed back to the stage, which retries it again with nothing committed meanwhile"`
}

// The versioning modes.
const (
	versionNone       = "none"
	versionOffset     = "offset"
	versionExpression = "expression"
)

// settings is a validated config.
type settings struct {
	urls          []string // without credentials
	index         string
	indexExpr     *expression.Program
	idExpr        *expression.Program // nil: the record key
	upsert        bool
	deleteOnNull  bool
	version       string
	versionExpr   *expression.Program
	username      string
	password      string
	token         string
	tlsInsecure   bool
	timeout       time.Duration
	batchSize     int
	maxBytes      int
	flushInterval time.Duration
	maxRetries    int
	vars          map[string]any
}

// indexName is what OpenSearch accepts as an index name, checked at load
// time for a fixed index.
var indexName = regexp.MustCompile(`^[a-z0-9][a-z0-9._+-]*$`)

// parse decodes and checks the block without touching the network.
func parse(c pipeline.Connector, env connectors.Env) (*settings, error) {
	var cfg Config
	var errs pipeline.Errors
	pos, err := pipeline.DecodeLocated(c, env.Lookup, &cfg)
	errs.Add(c.Pos, c.Path, err)
	at := func(key string) pipeline.Pos { return pos.Of(c.Path+"."+key, c.Pos) }
	s := &settings{
		index: cfg.Index, upsert: cfg.Action == "upsert", deleteOnNull: cfg.DeleteOnTombstone,
		version: cfg.Version, username: cfg.Username, password: cfg.Password, token: cfg.Token,
		tlsInsecure: cfg.TLSInsecure, timeout: time.Duration(cfg.Timeout), batchSize: cfg.BatchSize,
		maxBytes: cfg.MaxBytes, flushInterval: time.Duration(cfg.FlushInterval), maxRetries: cfg.MaxRetries,
		vars: env.Vars,
	}

	urls := cfg.URLs
	switch {
	case cfg.URL != "" && len(cfg.URLs) > 0:
		errs.Addf(at("url"), c.Path+".url", "set url or urls, not both")
	case cfg.URL != "":
		urls = []string{cfg.URL}
	case len(cfg.URLs) == 0:
		errs.Addf(c.Pos, c.Path+".url", "missing: set url (or urls) to the OpenSearch node")
	}
	for i, raw := range urls {
		u, user, pass, err := splitURL(raw)
		if err != nil {
			errs.Add(at("url"), fmt.Sprintf("%s.urls[%d]", c.Path, i), err)
			continue
		}
		if user != "" && s.username == "" {
			s.username, s.password = user, pass
		}
		s.urls = append(s.urls, u)
	}
	if s.token != "" && s.username != "" {
		errs.Addf(at("token"), c.Path+".token", "set token or username and password, not both")
	}

	compile := func(e pipeline.Expr) *expression.Program {
		if e.Src == "" {
			return nil
		}
		p, err := expression.Compile(e, expression.Options{Vars: env.Vars}, expression.Any)
		errs.Add(e.Pos, e.Path, err)
		return p
	}
	switch {
	case cfg.Index != "" && cfg.IndexExpression.Src != "":
		errs.Addf(at("index"), c.Path+".index", "set index or index_expression, not both")
	case cfg.Index != "":
		if !indexName.MatchString(cfg.Index) {
			errs.Addf(at("index"), c.Path+".index", "%q is not an index name: lowercase letters, digits and . _ - +, not starting with . _ - +; for a name computed per record use index_expression", cfg.Index)
		}
	case cfg.IndexExpression.Src != "":
		s.indexExpr = compile(cfg.IndexExpression)
	default:
		errs.Addf(c.Pos, c.Path+".index", "missing: set index (or index_expression)")
	}
	s.idExpr = compile(cfg.ID)

	switch cfg.Version {
	case versionExpression:
		if cfg.VersionExpression.Src == "" {
			errs.Addf(at("version"), c.Path+".version_expression", "version: expression needs version_expression, the integer expression giving each record's version")
		}
		s.versionExpr = compile(cfg.VersionExpression)
	default:
		if cfg.VersionExpression.Src != "" {
			errs.Addf(cfg.VersionExpression.Pos, cfg.VersionExpression.Path, "version_expression is used only with version: expression")
		}
	}
	if s.upsert && cfg.Version != versionNone {
		errs.Addf(at("version"), c.Path+".version", "action upsert cannot use external versions (OpenSearch updates do not take them): use action index, or version: none")
	}
	if cfg.BatchSize < 1 {
		errs.Addf(at("batch_size"), c.Path+".batch_size", "must be at least 1")
	}
	if cfg.MaxBytes < 1024 {
		errs.Addf(at("max_bytes"), c.Path+".max_bytes", "must be at least 1024")
	}
	if cfg.MaxRetries < 0 {
		errs.Addf(at("max_retries"), c.Path+".max_retries", "must not be negative")
	}
	if cfg.Timeout <= 0 {
		errs.Addf(at("timeout"), c.Path+".timeout", "must be more than 0")
	}
	if err := errs.Err(); err != nil {
		return nil, err
	}
	return s, nil
}

// splitURL checks a node URL and takes credentials out of it, so that
// errors quoting the URL never show them.
func splitURL(raw string) (u, user, pass string, err error) {
	p, err := url.Parse(raw)
	if err != nil {
		// url's error quotes the URL, credentials and all.
		return "", "", "", fmt.Errorf("not a URL")
	}
	if p.Scheme != "http" && p.Scheme != "https" {
		return "", "", "", fmt.Errorf("the URL must start with http:// or https://")
	}
	if p.Host == "" {
		return "", "", "", fmt.Errorf("the URL has no host")
	}
	if p.User != nil {
		user = p.User.Username()
		pass, _ = p.User.Password()
		p.User = nil
	}
	return p.String(), user, pass, nil
}
