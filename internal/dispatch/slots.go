package dispatch

import "sync"

// slots caps the requests in flight across all endpoints of the process
// (--max-in-flight). Each request holds about 50 KB (its goroutine, the
// connection's two goroutines and buffers), so a thousand endpoints at
// ten each would hold half a gigabyte.
//
// Workers never block on it: take grants what is free now and, when that
// is less than asked, queues the worker; give signals queued workers in
// the order they asked, one per freed slot, through their capacity-one
// channel. A slow endpoint waits its turn like any other, so it cannot
// keep the others out for longer than its requests take (at most the
// delivery timeout; its breaker pauses it after repeated failures).
type slots struct {
	mu      sync.Mutex
	free    int
	waiting []*worker // FIFO, each at most once
}

func newSlots(n int) *slots { return &slots{free: n} }

// take grants up to n slots; when it grants fewer, w is queued and
// signalled on w.slotCh once slots are given back.
func (s *slots) take(w *worker, n int) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	got := min(n, s.free)
	s.free -= got
	if got < n && !w.slotQueued {
		w.slotQueued = true
		s.waiting = append(s.waiting, w)
	}
	return got
}

// give returns n slots and wakes as many queued workers.
func (s *slots) give(n int) {
	s.mu.Lock()
	s.free += n
	var wake []*worker
	for len(wake) < s.free && len(s.waiting) > 0 {
		w := s.waiting[0]
		s.waiting[0] = nil
		s.waiting = s.waiting[1:]
		w.slotQueued = false
		wake = append(wake, w)
	}
	s.mu.Unlock()
	for _, w := range wake {
		signal(w.slotCh)
	}
}

// forget takes a worker that is ending out of the queue; a wake-up it may
// have been sent and not used passes to the next in line.
func (s *slots) forget(w *worker) {
	s.mu.Lock()
	if w.slotQueued {
		w.slotQueued = false
		for i, q := range s.waiting {
			if q == w {
				s.waiting = append(s.waiting[:i], s.waiting[i+1:]...)
				break
			}
		}
	}
	s.mu.Unlock()
	s.give(0)
}

// queued is how many workers wait for a slot.
func (s *slots) queued() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.waiting)
}
