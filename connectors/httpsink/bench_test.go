package httpsink

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/conveyor-dev/conveyor/record"
)

// BenchmarkWrite compares the sink with a bare net/http loop encoding and
// sending the same bodies with the same concurrency to a loopback server, in records
// per second (make bench's goal: the sink at 0.8 of the baseline or more).
func BenchmarkWrite(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	const batch, inFlight = 500, 8
	recs := recs(batch)

	for _, body := range []string{bodySingle, bodyNDJSON} {
		b.Run("sink/"+body, func(b *testing.B) {
			s, err := build(fmt.Sprintf("{url: %s, body: %s, batch_size: 100, max_in_flight: %d}", srv.URL, body, inFlight))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			for b.Loop() {
				if err := s.Write(context.Background(), recs); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
		b.Run("baseline/"+body, func(b *testing.B) {
			perRequest := 1
			if body != bodySingle {
				perRequest = 100
			}
			client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: inFlight}}
			defer client.CloseIdleConnections()
			for b.Loop() {
				bodies := baselineBodies(b, recs, perRequest)
				sem := make(chan struct{}, inFlight)
				var wg sync.WaitGroup
				for _, p := range bodies {
					sem <- struct{}{}
					wg.Go(func() {
						defer func() { <-sem }()
						resp, err := client.Post(srv.URL, "application/json", bytes.NewReader(p))
						if err != nil {
							b.Error(err)
							return
						}
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					})
				}
				wg.Wait()
			}
			b.ReportMetric(float64(b.N*batch)/b.Elapsed().Seconds(), "records/s")
		})
	}
}

// baselineBodies encodes the records as the sink would, perRequest values
// per body, one per line.
func baselineBodies(b *testing.B, recs []*record.Record, perRequest int) [][]byte {
	var out [][]byte
	var cur []byte
	for i, r := range recs {
		v, err := record.JSON.Encode(r.Value)
		if err != nil {
			b.Fatal(err)
		}
		if perRequest == 1 {
			out = append(out, v)
			continue
		}
		cur = append(append(cur, v...), '\n')
		if (i+1)%perRequest == 0 || i == len(recs)-1 {
			out = append(out, cur)
			cur = nil
		}
	}
	return out
}
