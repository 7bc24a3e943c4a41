package runtime

import (
	"testing"

	"github.com/gauntlet-ml/gauntlet/errs"
)

func TestPlanThreads(t *testing.T) {
	for _, c := range []struct {
		cores, workers, intra int
		w, t                  int
		over                  bool
	}{
		{2, 0, 0, 2, 1, false}, // auto: one worker per core
		{8, 0, 0, 8, 1, false},
		{0, 0, 0, 1, 1, false}, // unknown core count: 1
		{8, 2, 0, 2, 4, false}, // workers set: split the rest
		{8, 3, 0, 3, 2, false}, // 8/3 rounds down: never oversubscribe
		{2, 4, 0, 4, 1, true},  // more workers than cores: 1 thread each; over because workers alone exceed
		{8, 0, 4, 2, 4, false}, // intra set
		{2, 0, 3, 1, 3, true},
		{2, 2, 2, 2, 2, true}, // both set: as given
	} {
		w, th, err := PlanThreads(c.cores, c.workers, c.intra)
		if err != nil || w != c.w || th != c.t {
			t.Errorf("PlanThreads(%d, %d, %d) = %d, %d, %v; want %d, %d", c.cores, c.workers, c.intra, w, th, err, c.w, c.t)
		}
		if over, msg := Oversubscribed(max(c.cores, 1), w, th); over != c.over || (over && msg == "") {
			t.Errorf("Oversubscribed(%d, %d, %d) = %v, %q; want %v", c.cores, w, th, over, msg, c.over)
		}
	}
	for _, bad := range [][2]int{{-1, 0}, {0, -2}} {
		if _, _, err := PlanThreads(2, bad[0], bad[1]); errs.Code(err, 0) != errs.Invalid {
			t.Errorf("PlanThreads(2, %d, %d) = %v, want an errs.Invalid error", bad[0], bad[1], err)
		}
	}
}
