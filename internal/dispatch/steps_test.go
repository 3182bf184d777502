package dispatch

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/hookrelay/hookrelay/internal/clock"
	"github.com/hookrelay/hookrelay/internal/metrics"
	"github.com/hookrelay/hookrelay/internal/store"
)

// The worker's steps, one at a time, on a worker with no goroutines
// around it: each step is a plain method on the loop's state.

func testWorker(t *testing.T) *worker {
	t.Helper()
	d := New(nil, nil, nil, nil, clock.NewFake(time.Unix(0, 0)), slog.New(slog.NewTextHandler(io.Discard, nil)),
		metrics.New(prometheus.NewRegistry(), false), Config{})
	return newWorker(d, &endpointState{id: "wh_1", target: &target{url: "https://example.com/", version: 1}})
}

func due(ids ...string) []store.DueDelivery {
	var out []store.DueDelivery
	for i, id := range ids {
		out = append(out, store.DueDelivery{ID: id, SecretVersion: 1, Position: store.DuePosition{Seq: int64(i + 1)}})
	}
	return out
}

func TestFillAsksOnceAndForAsMuchAsItCanHold(t *testing.T) {
	w := testWorker(t)
	w.fill(10)
	if !w.loop.fetching || w.loop.want {
		t.Fatalf("after fill: fetching %v want %v; want a read out and nothing more wanted", w.loop.fetching, w.loop.want)
	}
	reqs := w.d.fetcher.take()
	if len(reqs) != 1 || reqs[0].p.Limit != 40 || reqs[0].p.EndpointID != "wh_1" {
		t.Fatalf("reads queued: %+v; want one of 4 × the cap", reqs)
	}
	w.loop.want = true // a poke while the read is out
	w.fill(10)
	if len(w.d.fetcher.take()) != 0 {
		t.Fatal("a second read while one is out")
	}
}

func TestTakeFetchedQueuesWhatIsNotHeld(t *testing.T) {
	w := testWorker(t)
	w.loop.tracked["dlv_b"] = true // in flight already
	w.loop.fetching = true
	w.takeFetched(context.Background(), fetchResult{p: store.DeliveriesDueParams{Limit: 3}, gen: w.loop.posGen, due: due("dlv_a", "dlv_b", "dlv_c")})
	if w.loop.fetching {
		t.Fatal("still fetching after the answer")
	}
	if len(w.loop.queue) != 2 || w.loop.queue[0].ID != "dlv_a" || w.loop.queue[1].ID != "dlv_c" {
		t.Fatalf("queue %v; want dlv_a, dlv_c in order, dlv_b skipped", w.loop.queue)
	}
	if !w.loop.want || w.loop.pos == nil || w.loop.pos.Seq != 3 {
		t.Fatalf("want %v pos %v; a full answer means more may be due, read on from the last", w.loop.want, w.loop.pos)
	}
}

func TestTakeFetchedAfterAResetDoesNotMovePos(t *testing.T) {
	w := testWorker(t)
	gen := w.loop.posGen
	w.loop.fetching = true
	w.resetPos() // an abandoned request is due again, behind where the read started
	w.takeFetched(context.Background(), fetchResult{p: store.DeliveriesDueParams{Limit: 10}, gen: gen, due: due("dlv_a")})
	if w.loop.pos != nil {
		t.Fatalf("pos moved to %v by a read that began before the reset", w.loop.pos)
	}
	if len(w.loop.queue) != 1 {
		t.Fatal("the answer itself was dropped")
	}
}

func TestHandleResultOfAnAbandonedRequestRecordsNothing(t *testing.T) {
	w := testWorker(t)
	w.loop.tracked["dlv_a"], w.loop.sending = true, 1
	w.handleResult(sendDone{dd: store.DueDelivery{ID: "dlv_a"}, out: outcome{abandoned: true}})
	if w.loop.sending != 0 || w.loop.tracked["dlv_a"] || w.d.completer.backlog() != 0 {
		t.Fatalf("sending %d tracked %v backlog %d; want nothing in flight, nothing tracked, nothing recorded",
			w.loop.sending, w.loop.tracked, w.d.completer.backlog())
	}
}

func TestRecordedResultsWaitWhileAReadIsOut(t *testing.T) {
	w := testWorker(t)
	w.loop.tracked["dlv_a"] = true
	w.recorded([]string{"dlv_a"})
	w.loop.fetching = true
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	w.wait(ctx, nil) // only ctx can end it: the recorded signal is not taken
	if !w.loop.tracked["dlv_a"] {
		t.Fatal("a written result was forgotten while a read that may predate the write was out")
	}
	w.loop.fetching = false
	w.wait(context.Background(), nil)
	if w.loop.tracked["dlv_a"] {
		t.Fatal("the written result was not forgotten once no read was out")
	}
}

func TestSlotsFirstComeFirstServed(t *testing.T) {
	a, b, c := testWorker(t), testWorker(t), testWorker(t)
	s := newSlots(3)
	if got := s.take(a, 3); got != 3 {
		t.Fatalf("a got %d of 3 free", got)
	}
	if s.take(b, 2) != 0 || s.take(c, 1) != 0 || s.queued() != 2 {
		t.Fatal("b and c should queue, in that order")
	}
	s.give(1)
	select {
	case <-b.slotCh:
	default:
		t.Fatal("the first in line was not woken")
	}
	select {
	case <-c.slotCh:
		t.Fatal("the second in line was woken for one slot")
	default:
	}
	// b ends without taking it: its turn passes on.
	s.forget(b)
	select {
	case <-c.slotCh:
	default:
		t.Fatal("a wake-up a leaving worker did not use was lost")
	}
	if got := s.take(c, 1); got != 1 {
		t.Fatalf("c got %d", got)
	}
}
