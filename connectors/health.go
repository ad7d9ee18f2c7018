package connectors

import "sync"

// Health is a stage's own account of whether it can do its work, beside
// the engine's (a consumer assigned, a source opened): a stage that keeps
// retrying an unreachable database is running but not ready, and /readyz
// says why. Connectors get it in Env; the engine reports for the writes it
// retries itself. The zero value is up; a nil *Health ignores reports.
type Health struct {
	mu   sync.Mutex
	down string
}

// Up says the stage works again.
func (h *Health) Up() {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.down = ""
	h.mu.Unlock()
}

// Down says the stage cannot do its work, and why (no secrets: callers
// scrub their errors).
func (h *Health) Down(reason string) {
	if h == nil {
		return
	}
	h.mu.Lock()
	h.down = reason
	h.mu.Unlock()
}

// Problem is why the stage is down, "" when it is up.
func (h *Health) Problem() string {
	if h == nil {
		return ""
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}
