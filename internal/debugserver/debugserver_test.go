package debugserver

import (
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
)

func TestServesTheGoroutineCount(t *testing.T) {
	addr, err := Start("127.0.0.1:0", slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.Get("http://" + addr.String() + "/debug/pprof/goroutine?debug=1")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !strings.HasPrefix(string(body), "goroutine profile: total ") {
		t.Errorf("status %d, body %.60q", resp.StatusCode, body)
	}
	if _, err := Start(addr.String(), slog.New(slog.DiscardHandler)); err == nil {
		t.Error("a second Start on the same address succeeded")
	}
}
