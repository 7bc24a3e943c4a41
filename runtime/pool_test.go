package runtime

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
)

func TestPoolRunsEveryTaskOnce(t *testing.T) {
	for _, w := range []int{0, 1, 3, 16} {
		hits := make([]int32, 50)
		var last atomic.Int64
		p := Pool{Workers: w, Progress: func(done, total int) {
			if total != 50 {
				t.Errorf("total %d", total)
			}
			last.Store(int64(done))
		}}
		if err := p.Run(context.Background(), 50, func(_ context.Context, _, i int) error {
			atomic.AddInt32(&hits[i], 1)
			return nil
		}); err != nil {
			t.Fatal(err)
		}
		for i, h := range hits {
			if h != 1 {
				t.Fatalf("workers %d: task %d ran %d times", w, i, h)
			}
		}
		if last.Load() != 50 {
			t.Fatalf("progress ended at %d", last.Load())
		}
	}
}

func TestPoolRecoversPanicsAndReportsLowestFailedTask(t *testing.T) {
	err := Pool{Workers: 1}.Run(context.Background(), 10, func(_ context.Context, _, i int) error {
		if i == 4 {
			panic("kaboom")
		}
		if i == 7 {
			return errors.New("late")
		}
		return nil
	})
	if err == nil || !strings.Contains(err.Error(), "task 4 panicked: kaboom") {
		t.Fatalf("err = %v", err)
	}
}

func TestPoolStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var ran atomic.Int32
	err := Pool{Workers: 2}.Run(ctx, 1000, func(ctx context.Context, _, i int) error {
		if ran.Add(1) == 5 {
			cancel()
		}
		return nil
	})
	if !errors.Is(err, context.Canceled) || ran.Load() > 10 {
		t.Fatalf("err = %v after %d tasks", err, ran.Load())
	}
}
