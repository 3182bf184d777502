package api_test

import (
	"strings"
	"testing"
)

// TestErrorsSayWhatToDo: the refusals a developer meets on their first day
// name the way forward.
func TestErrorsSayWhatToDo(t *testing.T) {
	t.Parallel()
	strict := setupWith(t, options{strict: true})
	for _, tc := range []struct {
		name, url string
		hint      bool
	}{
		{"plain http", "http://hooks.example.com/in", true},
		{"loopback", "https://localhost/in", true},
		{"loopback address", "https://127.0.0.1/in", true},
		{"private address", "https://internal.example.com/in", false},
	} {
		st, env := strict.do(t, "POST", "/v1/webhooks", strict.A.Full, map[string]any{"url": tc.url, "events": []string{"*"}})
		wantError(t, st, env, 400, "url")
		if got := strings.Contains(env.Error.Message, "--dev-allow-localhost"); got != tc.hint {
			t.Errorf("%s: message %q mentions --dev-allow-localhost: %v, want %v", tc.name, env.Error.Message, got, tc.hint)
		}
	}

	b := setup(t)
	st, env := b.do(t, "POST", "/v1/events", b.A.Full, map[string]any{"event_type": "generation.exploded", "data": map[string]any{}})
	wantError(t, st, env, 400, "event_type", "hookrelay admin event-type create", `--name "generation.exploded"`)
	st, env = b.do(t, "POST", "/v1/webhooks", b.A.Full, map[string]any{"url": "http://127.0.0.1:9/in", "events": []string{"generation.exploded"}})
	wantError(t, st, env, 400, "events[0]", "GET /v1/event-types", "hookrelay admin event-type create")
}
