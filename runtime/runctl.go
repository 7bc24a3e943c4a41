package runtime

import (
	"context"
	"reflect"

	ort "github.com/yalue/onnxruntime_go"
)

// runControl is the lifecycle both runners (Runner, GraphRunner) share:
// their ORT run options, and the hook that turns a context's cancellation
// into ONNX Runtime's terminate flag, which stops a run in progress. The
// hook is registered once per context and kept while calls pass the same
// context (a Pool passes one to every task), so the steady state allocates
// nothing.
type runControl struct {
	opts       *ort.RunOptions
	terminate  func()          // calls opts.Terminate, then signals terminated
	terminated chan struct{}   // receives once per terminate call
	ctx        context.Context // the context whose cancellation terminate watches
	stop       func() bool     // stops watching ctx
}

// init creates the run options and the terminate hook.
func (c *runControl) init() error {
	opts, err := ort.NewRunOptions()
	if err != nil {
		return err
	}
	c.opts, c.terminated = opts, make(chan struct{}, 1)
	c.terminate = func() {
		c.opts.Terminate()
		c.terminated <- struct{}{}
	}
	return nil
}

// run runs sess once on in and out with the run options, watching ctx
// when it can be cancelled. The caller checks ctx.Err() first: a
// cancelled run's error is ORT's, not the context's.
func (c *runControl) run(ctx context.Context, sess *ort.DynamicAdvancedSession, in, out []ort.Value) error {
	if ctx.Done() != nil {
		c.watch(ctx)
	} else {
		c.unwatch()
	}
	return sess.RunWithOptions(in, out, c.opts)
}

// watch makes ctx's cancellation terminate the runs, replacing the hook on
// the previous context.
func (c *runControl) watch(ctx context.Context) {
	if c.stop != nil && reflect.TypeOf(ctx).Comparable() && ctx == c.ctx {
		return
	}
	c.unwatch()
	c.stop, c.ctx = context.AfterFunc(ctx, c.terminate), ctx
}

// unwatch removes the cancellation hook and, if it fired, waits for it and
// clears the terminate flag so later runs are not stopped.
func (c *runControl) unwatch() {
	if c.stop == nil {
		return
	}
	if !c.stop() {
		<-c.terminated
		c.opts.UnsetTerminate()
	}
	c.stop, c.ctx = nil, nil
}

// close removes the hook and releases the run options; it may be called
// more than once, and on a runControl whose init failed.
func (c *runControl) close() {
	c.unwatch()
	if c.opts != nil {
		c.opts.Destroy()
		c.opts = nil
	}
}
