package apiserver

import (
	"hash/maphash"
	"sync"
	"time"
)

// limiter counts requests per key in fixed windows. It lives in one
// process: with several replicas behind a balancer each enforces its own
// share, which bounds abuse without a shared round trip per request.
type limiter struct {
	limit  int
	window time.Duration
	now    func() time.Time
	seed   maphash.Seed
	shards [32]limiterShard
}

type limiterShard struct {
	mu      sync.Mutex
	windows map[string]*window
	swept   time.Time
}

type window struct {
	start time.Time
	count int
}

// verdict is the outcome of one request against a limiter.
type verdict struct {
	allowed   bool
	limit     int
	remaining int
	// reset is the time until the window restarts.
	reset time.Duration
}

func newLimiter(limit int, win time.Duration, now func() time.Time) *limiter {
	if now == nil {
		now = time.Now
	}
	l := &limiter{limit: limit, window: win, now: now, seed: maphash.MakeSeed()}
	for i := range l.shards {
		l.shards[i].windows = map[string]*window{}
	}
	return l
}

// allow counts one request for key and reports whether it is within the
// limit. A nil limiter allows everything.
func (l *limiter) allow(key string) verdict {
	if l == nil {
		return verdict{allowed: true}
	}
	now := l.now()
	sh := &l.shards[maphash.String(l.seed, key)%uint64(len(l.shards))]
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if now.Sub(sh.swept) > l.window {
		// Forget finished windows so idle clients cost no memory.
		for k, w := range sh.windows {
			if now.Sub(w.start) >= l.window {
				delete(sh.windows, k)
			}
		}
		sh.swept = now
	}
	w := sh.windows[key]
	if w == nil || now.Sub(w.start) >= l.window {
		w = &window{start: now}
		sh.windows[key] = w
	}
	reset := l.window - now.Sub(w.start)
	if w.count >= l.limit {
		return verdict{allowed: false, limit: l.limit, remaining: 0, reset: reset}
	}
	w.count++
	return verdict{allowed: true, limit: l.limit, remaining: l.limit - w.count, reset: reset}
}
