package runtime

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"sync"
	"sync/atomic"
)

// Pool runs numbered tasks on a fixed number of goroutine workers. Tasks are
// handed out in index order; a task's result must depend only on its index
// (and the seed derived from it), never on which worker ran it, so results are
// identical for any worker count.
type Pool struct {
	// Workers is the number of goroutines; values below 1 mean 1.
	Workers int
	// Progress, when set, is called after each task with the number of
	// finished tasks and the total. It is called from worker goroutines and
	// must be safe for concurrent use.
	Progress func(done, total int)
}

// TaskFunc runs task i on worker w (0 ≤ w < Workers). Per-worker resources
// (a Runner, scratch buffers) are indexed by w.
type TaskFunc func(ctx context.Context, w, i int) error

// Run runs tasks 0..n-1 and returns the first error by task index, or the
// context's error if it was cancelled. A panic in a task is recovered and
// returned as that task's error. After the first error no new task starts.
func (p Pool) Run(ctx context.Context, n int, fn TaskFunc) error {
	workers := p.Workers
	if workers < 1 {
		workers = 1
	}
	if workers > n {
		workers = n
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		next   atomic.Int64
		done   atomic.Int64
		mu     sync.Mutex
		firstI = n
		first  error
		wg     sync.WaitGroup
	)
	fail := func(i int, err error) {
		mu.Lock()
		// A task that stopped because another one failed (we cancelled
		// ctx) must not hide the real error behind context.Canceled.
		stopped := parent.Err() == nil && ctx.Err() != nil && errors.Is(err, context.Canceled)
		if !stopped && i < firstI {
			firstI, first = i, err
		}
		mu.Unlock()
		cancel()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n || ctx.Err() != nil {
					return
				}
				if err := runTask(ctx, fn, w, i); err != nil {
					fail(i, err)
					return
				}
				if p.Progress != nil {
					p.Progress(int(done.Add(1)), n)
				}
			}
		}(w)
	}
	wg.Wait()
	if first != nil {
		return first
	}
	return parent.Err()
}

func runTask(ctx context.Context, fn TaskFunc, w, i int) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("task %d panicked: %v\n%s", i, r, debug.Stack())
		}
	}()
	return fn(ctx, w, i)
}
