package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/conveyor-dev/conveyor/serde"
)

// TestCodecFailure: only a codec's *serde.RecordError is the record's
// fault (it goes to on_error); a registry that refuses us, a stop while a
// codec waited, or codecs that cannot be built stop the stage instead.
func TestCodecFailure(t *testing.T) {
	record := &serde.RecordError{SchemaID: 7, Err: errors.New("unknown schema id 7")}
	for _, tc := range []struct {
		err     error
		stopped bool
	}{
		{record, false},
		{fmt.Errorf("key: %w", record), false},
		{errors.New("schema registry: 401 Unauthorized"), true},
		{context.Canceled, true},
		{fmt.Errorf("topic t: %w", context.DeadlineExceeded), true},
	} {
		err := codecErr(tc.err)
		if got := stopped(err); got != tc.stopped {
			t.Errorf("%v: stopped %v, want %v", tc.err, got, tc.stopped)
		}
		if !errors.Is(err, tc.err) {
			t.Errorf("%v: the marked error no longer wraps it", tc.err)
		}
	}
	if codecErr(nil) != nil {
		t.Error("codecErr(nil) is not nil")
	}
}
