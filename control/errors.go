package control

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/conveyor-dev/conveyor/engine"
)

// ErrNotFound: the cluster has no such topic or group. Implementations of
// Cluster and DeadLetters wrap it; the API answers 404.
var ErrNotFound = errors.New("not found")

// InvalidConfig is a reload refused because the pipeline files do not
// load: Errors are the problems found, each "file:line:col: ...". The run
// keeps its old pipelines.
type InvalidConfig struct {
	Errors []string
}

func (e *InvalidConfig) Error() string {
	return fmt.Sprintf("invalid pipeline files: %s", strings.Join(e.Errors, "; "))
}

// QueryError is a request that cannot be answered as asked: a bad
// parameter, an expression that does not compile. The API answers 400.
type QueryError struct{ Err error }

func (e *QueryError) Error() string { return e.Err.Error() }
func (e *QueryError) Unwrap() error { return e.Err }

func badQuery(format string, args ...any) error {
	return &QueryError{Err: fmt.Errorf(format, args...)}
}

// errorBody is every error the API returns.
type errorBody struct {
	Error  string   `json:"error"`
	Errors []string `json:"errors,omitempty"`
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v) // the client went away; nothing to do
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, errorBody{Error: msg})
}

// fail answers with err, its status from what it wraps. Unexpected errors
// are logged here and answered 500, so handlers only return them.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	var invalid *InvalidConfig
	var query *QueryError
	switch {
	case errors.As(err, &invalid):
		writeJSON(w, http.StatusUnprocessableEntity, errorBody{Error: "invalid pipeline files: the running pipelines are unchanged", Errors: invalid.Errors})
	case errors.As(err, &query):
		writeError(w, http.StatusBadRequest, err.Error())
	case errors.Is(err, engine.ErrNoStage), errors.Is(err, ErrNotFound):
		writeError(w, http.StatusNotFound, err.Error())
	case errors.Is(err, r.Context().Err()) && r.Context().Err() != nil:
		// The client went away: nobody reads the answer.
		writeError(w, http.StatusServiceUnavailable, err.Error())
	default:
		s.log.Error("control API", "method", r.Method, "path", r.URL.Path, "error", err)
		writeError(w, http.StatusInternalServerError, err.Error())
	}
}
