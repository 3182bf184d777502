package listen

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/hookrelay/hookrelay/internal/signing"
	"github.com/hookrelay/hookrelay/verify"
)

type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) { s.mu.Lock(); defer s.mu.Unlock(); return s.b.Write(p) }
func (s *syncBuf) String() string              { s.mu.Lock(); defer s.mu.Unlock(); return s.b.String() }

// TestReceiver: `hookrelay listen` answers 200 to a delivery signed with
// its secret (both schemes checked) and 401 to anything else, printing
// which.
func TestReceiver(t *testing.T) {
	t.Parallel()
	secret, _ := signing.NewSecret()
	sec, err := signing.ParseSecret(secret)
	if err != nil {
		t.Fatal(err)
	}
	v, err := verify.New(secret)
	if err != nil {
		t.Fatal(err)
	}
	out := &syncBuf{}
	rc := New(out, v, "X-Hookrelay-")
	srv := httptest.NewServer(rc)
	defer srv.Close()
	signer := signing.NewSigner("X-Hookrelay-", "hookrelay/test")
	body := []byte(`{"webhook_event":"x.y","webhook_timestamp":"2026-01-01T00:00:00.000Z","webhook_delivery_id":"dlv_1","webhook_data":{}}`)
	send := func(b []byte, tamper func(http.Header)) int {
		req, _ := http.NewRequest("POST", srv.URL+"/hook", bytes.NewReader(b))
		signer.Apply(req.Header, signing.Message{DeliveryID: "dlv_1", EventType: "x.y", Timestamp: "2026-01-01T00:00:00.000Z", Body: body},
			[]signing.Secret{sec}, time.Now())
		if tamper != nil {
			tamper(req.Header)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if st := send(body, nil); st != 200 {
		t.Fatalf("a genuine delivery got %d", st)
	}
	if d := <-rc.Deliveries(); !d.Verified || d.ID != "dlv_1" || d.Event != "x.y" {
		t.Fatalf("recorded %+v", d)
	}
	if !strings.Contains(out.String(), "✔ verified") || !strings.Contains(out.String(), `"webhook_delivery_id": "dlv_1"`) {
		t.Fatalf("printed:\n%s", out)
	}
	for name, c := range map[string]struct {
		body   []byte
		tamper func(http.Header)
	}{
		"tampered body":             {append([]byte(nil), bytes.Replace(body, []byte("x.y"), []byte("x.z"), 1)...), nil},
		"branded signature removed": {body, func(h http.Header) { h.Del("X-Hookrelay-Signature") }},
		"old attempt timestamp":     {body, func(h http.Header) { h.Set("Webhook-Timestamp", "1600000000") }},
	} {
		if st := send(c.body, c.tamper); st != 401 {
			t.Errorf("%s: got %d, want 401", name, st)
		}
		if d := <-rc.Deliveries(); d.Verified {
			t.Errorf("%s: recorded as verified", name)
		}
	}
	if !strings.Contains(out.String(), "✘ NOT verified") {
		t.Fatalf("refusals not printed:\n%s", out)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET answered %d", resp.StatusCode)
	}
}
