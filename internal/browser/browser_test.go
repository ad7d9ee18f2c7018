package browser

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestBrowser loads a page whose script changes it, reads it back, waits
// for it and takes a screenshot.
func TestBrowser(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, `<!doctype html><title>t</title><p id="p">before</p><script>setTimeout(() => { document.getElementById('p').textContent = 'after'; }, 100)</script>`)
	}))
	defer srv.Close()

	ctx := New(t)
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL)); err != nil {
		t.Fatal(err)
	}
	WaitFor(t, ctx, "the script to run", `document.getElementById('p').textContent === 'after'`, 10*time.Second)
	text, err := chromedp.Run(ctx, chromedp.Text(chromedp.ID("p")))
	if err != nil || text != "after" {
		t.Fatalf("text = %q, %v; want after", text, err)
	}

	path := filepath.Join(t.TempDir(), "shots", "page.png")
	if err := Screenshot(ctx, path); err != nil {
		t.Fatal(err)
	}
	png, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Errorf("%s is not a PNG", path)
	}
}

// TestMissingBrowser: without a browser a test skips on a workstation and
// fails in CI. It runs this test binary again with no browser to be found.
func TestMissingBrowser(t *testing.T) {
	if os.Getenv("BROWSER_TEST_CHILD") != "" {
		New(t)
		t.Log("browser started")
		return
	}
	for _, tc := range []struct {
		ci       string
		wantFail bool
		want     string
	}{
		{ci: "", wantFail: false, want: "--- SKIP: TestMissingBrowser"},
		{ci: "true", wantFail: true, want: "CI needs the browser"},
	} {
		cmd := exec.Command(os.Args[0], "-test.run=^TestMissingBrowser$", "-test.v")
		cmd.Env = append(os.Environ(), "BROWSER_TEST_CHILD=1", EnvPath+"=/nonexistent/chromium", "CI="+tc.ci)
		out, err := cmd.CombinedOutput()
		if failed := err != nil; failed != tc.wantFail || !bytes.Contains(out, []byte(tc.want)) {
			t.Errorf("CI=%q: err %v, output:\n%s\nwant failed=%v and %q", tc.ci, err, out, tc.wantFail, tc.want)
		}
	}
}
