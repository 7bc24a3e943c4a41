package suite

import (
	"context"
	"errors"
)

// TimedOutKey is the details key under which a suite stopped by its
// deadline (runtime.timeout) says how much of its work its figures cover.
const TimedOutKey = "timed_out"

// TimedOut reports whether err ended a suite's work because ctx's
// deadline (runtime.timeout) passed, not an interruption or a failure.
// A suite that can then return the figures of the part it finished
// returns them along with err, marked with SetTimedOut; the engine reports
// them with status timed_out.
func TimedOut(ctx context.Context, err error) bool {
	return err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded)
}

// SetTimedOut records in r.Details[TimedOutKey] that r's figures cover done
// of total samples (samples_evaluated, samples_total), with a suite's own
// entries from extra (the attacks it finished, the one it stopped in).
func (r *Result) SetTimedOut(done, total int, extra map[string]any) {
	p := map[string]any{"samples_evaluated": done, "samples_total": total}
	for k, v := range extra {
		p[k] = v
	}
	r.Details[TimedOutKey] = p
}
