package api

import "net/http"

// NewHealth builds a server with only the operational routes (/healthz,
// /readyz, /metrics), for a node that runs the dispatcher without the API:
// its orchestrator and scraper must still see a stall or a broken database.
func NewHealth(d Deps) *Server {
	s := &Server{Deps: d, mux: http.NewServeMux(), limiter: newKeyLimiter(0, 0)}
	s.registerHealth()
	return s
}

func (s *Server) registerHealth() {
	s.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeData(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", s.readyz)
	if s.Metrics != nil {
		s.mux.Handle("GET /metrics", s.Metrics)
	}
}
