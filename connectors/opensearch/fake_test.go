package opensearch

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// fakeNode is an httptest server answering _bulk as OpenSearch does, for
// the actions the sink sends: index (with or without an external version),
// update with doc_as_upsert and delete. Each index maps a field to the JSON
// kind it first saw, and refuses a document whose field has another kind
// with a 400 mapper_parsing_exception, as a dynamic mapping does.
type fakeNode struct {
	t   *testing.T
	srv *httptest.Server

	mu      sync.Mutex
	docs    map[string]doc               // index/id
	mapping map[string]map[string]string // index: field: kind
	auth    []string                     // Authorization of each request
	sent    [][]string                   // action/index/id of each request's items
	// status, when set, may force an item's status (0: act normally); n is
	// the number of _bulk requests before this one.
	status func(n int, action, index, id string) int
	// reqStatus, when set, may fail a whole request with a status.
	reqStatus func(n int) int
	nextID    int
}

type doc struct {
	source  map[string]any
	version int64
}

func newFakeNode(t *testing.T) *fakeNode {
	f := &fakeNode{t: t, docs: map[string]doc{}, mapping: map[string]map[string]string{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeNode) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if r.Method != http.MethodPost || r.URL.Path != "/_bulk" {
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, `{"error":"no route %s %s","status":404}`, r.Method, r.URL.Path)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.sent)
	f.auth = append(f.auth, r.Header.Get("Authorization"))
	f.sent = append(f.sent, nil)
	if f.reqStatus != nil {
		if st := f.reqStatus(n); st != 0 {
			w.WriteHeader(st)
			fmt.Fprintf(w, `{"error":{"type":"injected","reason":"injected status %d"},"status":%d}`, st, st)
			return
		}
	}
	var items []map[string]any
	sc := bufio.NewScanner(r.Body)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		var head map[string]map[string]any
		if err := json.Unmarshal(sc.Bytes(), &head); err != nil || len(head) != 1 {
			f.t.Errorf("bad action line %q: %v", sc.Text(), err)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		for action, m := range head {
			var source map[string]any
			if action != "delete" {
				if !sc.Scan() {
					f.t.Errorf("action %s without a source line", action)
					w.WriteHeader(http.StatusBadRequest)
					return
				}
				if err := json.Unmarshal(sc.Bytes(), &source); err != nil {
					f.t.Errorf("bad source line %q: %v", sc.Text(), err)
					w.WriteHeader(http.StatusBadRequest)
					return
				}
			}
			items = append(items, map[string]any{action: f.apply(n, action, m, source)})
		}
	}
	errs := false
	for _, it := range items {
		for _, res := range it {
			if res.(map[string]any)["status"].(int) >= 300 {
				errs = true
			}
		}
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"took": 1, "errors": errs, "items": items})
}

func (f *fakeNode) apply(n int, action string, m, source map[string]any) map[string]any {
	index, _ := m["_index"].(string)
	id, _ := m["_id"].(string)
	f.sent[n] = append(f.sent[n], action+"/"+index+"/"+id)
	res := map[string]any{"_index": index, "_id": id}
	fail := func(status int, typ, reason string) map[string]any {
		res["status"] = status
		res["error"] = map[string]any{"type": typ, "reason": reason}
		return res
	}
	if f.status != nil {
		if st := f.status(n, action, index, id); st != 0 {
			return fail(st, "injected", fmt.Sprintf("injected status %d", st))
		}
	}
	if id == "" {
		f.nextID++
		id = fmt.Sprintf("auto-%d", f.nextID)
		res["_id"] = id
	}
	key := index + "/" + id
	cur, exists := f.docs[key]
	version, external := int64(0), m["version_type"] == "external"
	if external {
		version = int64(m["version"].(float64))
		if exists && version <= cur.version {
			return fail(409, "version_conflict_engine_exception",
				fmt.Sprintf("[%s]: version conflict, current version [%d] is higher or equal to the one provided [%d]", id, cur.version, version))
		}
	} else {
		version = cur.version + 1
	}
	switch action {
	case "delete":
		if !exists {
			res["status"], res["result"] = 404, "not_found"
			return res
		}
		delete(f.docs, key)
		res["status"], res["result"] = 200, "deleted"
		return res
	case "update":
		if source["doc_as_upsert"] != true {
			return fail(400, "action_request_validation_exception", "the fake only knows doc_as_upsert")
		}
		merged := map[string]any{}
		for k, v := range cur.source {
			merged[k] = v
		}
		for k, v := range source["doc"].(map[string]any) {
			merged[k] = v
		}
		source = merged
	}
	if reason := f.mapped(index, source); reason != "" {
		return fail(400, "mapper_parsing_exception", reason)
	}
	f.docs[key] = doc{source: source, version: version}
	res["status"], res["result"], res["_version"] = 201, "created", version
	if exists {
		res["status"], res["result"] = 200, "updated"
	}
	return res
}

// mapped checks source against the index's dynamic mapping and extends it.
func (f *fakeNode) mapped(index string, source map[string]any) string {
	if f.mapping[index] == nil {
		f.mapping[index] = map[string]string{}
	}
	for field, v := range source {
		kind := fmt.Sprintf("%T", v)
		if had, ok := f.mapping[index][field]; ok && had != kind {
			return fmt.Sprintf("failed to parse field [%s] of type [%s]", field, had)
		}
		f.mapping[index][field] = kind
	}
	return ""
}

// doc returns a stored document's source and version.
func (f *fakeNode) doc(index, id string) (map[string]any, int64, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	d, ok := f.docs[index+"/"+id]
	return d.source, d.version, ok
}

// requests returns what each request carried.
func (f *fakeNode) requests() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	out := make([][]string, len(f.sent))
	copy(out, f.sent)
	return out
}

func (f *fakeNode) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.docs)
}
