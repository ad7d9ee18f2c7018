package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// receiver is the local endpoint the http variants post to: an in-process
// server that counts the records of each run (POST /runs/{run}, NDJSON)
// and, when asked, keeps their order ids for the verify step.
type receiver struct {
	url string
	srv *http.Server
	mu  sync.Mutex
	run map[string]*tally
}

// tally is what one run delivered.
type tally struct {
	records atomic.Int64
	keep    bool // keep order ids (smoke runs)
	mu      sync.Mutex
	ids     map[string]int
	bad     []string // records that were no order, first few
}

func startReceiver() (*receiver, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("start the http receiver: %w", err)
	}
	r := &receiver{url: "http://" + ln.Addr().String(), run: map[string]*tally{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /runs/{run}", r.handle)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = r.srv.Serve(ln) }() // ends with close
	return r, nil
}

func (r *receiver) close() error {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return r.srv.Shutdown(ctx)
}

// expect opens run's tally; posts to a run not expected get 404.
func (r *receiver) expect(run string, keep bool) (*tally, string) {
	t := &tally{keep: keep}
	if keep {
		t.ids = map[string]int{}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run[run] = t
	return t, r.url + "/runs/" + run
}

func (r *receiver) forget(run string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.run, run)
}

func (r *receiver) handle(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	t := r.run[req.PathValue("run")]
	r.mu.Unlock()
	if t == nil {
		http.Error(w, "no such run", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(req.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	t.add(body)
	w.WriteHeader(http.StatusNoContent)
}

// add counts the records of an NDJSON body, one a line.
func (t *tally) add(body []byte) {
	var n int64
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(nil, len(body)+1)
	for sc.Scan() {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		n++
		if t.keep {
			t.keepID(line)
		}
	}
	t.records.Add(n)
}

func (t *tally) keepID(line []byte) {
	id, err := orderID(line)
	t.mu.Lock()
	defer t.mu.Unlock()
	if err != nil {
		if len(t.bad) < 3 {
			t.bad = append(t.bad, fmt.Sprintf("%.100q: %v", line, err))
		}
		return
	}
	t.ids[id]++
}

// verify checks that every order of in arrived once and nothing else did
// (runs that kept ids).
func (t *tally) verify(in *input) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.bad) > 0 {
		return fmt.Errorf("records that are no order arrived: %v", t.bad)
	}
	var missing, dup, foreign int
	for id := range in.orders {
		switch n := t.ids[id]; {
		case n == 0:
			missing++
		case n > 1:
			dup += n - 1
		}
	}
	for id := range t.ids {
		if _, ok := in.orders[id]; !ok {
			foreign++
		}
	}
	if missing+dup+foreign > 0 {
		return fmt.Errorf("%d orders missing, %d duplicates, %d unknown orders", missing, dup, foreign)
	}
	if len(in.orders) == 0 {
		return errors.New("no input orders to check against")
	}
	return nil
}
