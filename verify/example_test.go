package verify_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/hookrelay/hookrelay/verify"
)

// A receiver's handler: verify first, then parse the bytes that were
// verified, then de-duplicate on the delivery id (deliveries are
// at-least-once).
func Example() {
	v, err := verify.New(
		"whsec_ax8OTJo9Xn+KGyw9Tl9gcYKTpLXG1+j5ChssPU5fYHE=", // in practice: os.Getenv("WEBHOOK_SECRET")
		// Only so this example's recorded request stays valid; real code
		// leaves the clock alone.
		verify.WithClock(func() time.Time { return time.Date(2026, 5, 12, 12, 1, 30, 0, time.UTC) }),
	)
	if err != nil {
		log.Fatal(err)
	}

	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := v.VerifyRequest(r)
		if errors.Is(err, verify.ErrBodyTooLarge) {
			http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
			return
		}
		if err != nil {
			fmt.Println("rejected:", err)
			http.Error(w, "invalid signature", http.StatusUnauthorized)
			return
		}
		var event struct {
			Type       string          `json:"webhook_event"`
			DeliveryID string          `json:"webhook_delivery_id"`
			Data       json.RawMessage `json:"webhook_data"`
		}
		if err := json.Unmarshal(body, &event); err != nil {
			http.Error(w, "bad JSON", http.StatusBadRequest)
			return
		}
		fmt.Printf("accepted %s %s %s\n", event.Type, event.DeliveryID, event.Data)
		w.WriteHeader(http.StatusNoContent) // any 2xx, quickly; do slow work later
	})

	// A delivery as hookrelay sends it.
	body := `{"webhook_event":"generation.completed","webhook_timestamp":"2026-05-12T12:00:00.000Z","webhook_delivery_id":"dlv_2x7QpL9mN4","webhook_data":{"generation_id":"gen_81a"}}`
	send := func(body string) int {
		r := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Hookrelay-Signature", "sha256=907f37fd677013f3fe385b36848ceead78e1431fc70e5e236655a8fae679acee")
		r.Header.Set("X-Hookrelay-Delivery-Id", "dlv_2x7QpL9mN4")
		r.Header.Set("webhook-id", "dlv_2x7QpL9mN4")
		r.Header.Set("webhook-timestamp", "1778587260")
		r.Header.Set("webhook-signature", "v1,gOGO4rAN3kVB7EexCHft9s1SZpx0owB4D8jMjTkR2ak=")
		w := httptest.NewRecorder()
		handler.ServeHTTP(w, r)
		return w.Code
	}

	fmt.Println(send(body))
	fmt.Println(send(strings.Replace(body, "gen_81a", "gen_666", 1)))
	// Output:
	// accepted generation.completed dlv_2x7QpL9mN4 {"generation_id":"gen_81a"}
	// 204
	// rejected: verify: standard webhooks: no v1 signature matches 1 secret(s): invalid signature
	// 401
}
