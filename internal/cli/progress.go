package cli

import (
	"fmt"
	"io"
	"os"
	"sync"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"

	"github.com/gauntlet-ml/gauntlet/errs"
)

// PlainInterval is the least time between two plain progress lines.
const PlainInterval = 5 * time.Second

// newProgress returns the progress display for mode: a bar on a terminal
// ("auto" on a TTY, or "bar"), periodic log lines ("auto" elsewhere, or
// "plain"), or nothing ("none").
func newProgress(mode string, w io.Writer, now func() time.Time) (*progress, error) {
	switch mode {
	case "auto":
		if f, ok := w.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
			mode = "bar"
		} else {
			mode = "plain"
		}
	case "bar", "plain", "none":
	default:
		return nil, errs.Invalidf("--progress %q: want auto, bar, plain or none", mode)
	}
	return &progress{mode: mode, w: w, now: now}, nil
}

// progress implements engine.Progress.
type progress struct {
	mode string
	w    io.Writer
	now  func() time.Time

	mu    sync.Mutex
	suite string
	bar   *progressbar.ProgressBar
	last  time.Time
}

func (p *progress) Start(suite string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.suite, p.bar, p.last = suite, nil, p.now()
	if p.mode == "plain" {
		fmt.Fprintf(p.w, "%s gauntlet: suite %s started\n", p.now().UTC().Format(time.RFC3339), suite)
	}
}

func (p *progress) Update(done, total int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch p.mode {
	case "bar":
		if p.bar == nil {
			p.bar = progressbar.NewOptions(total,
				progressbar.OptionSetWriter(p.w),
				progressbar.OptionSetDescription(p.suite),
				progressbar.OptionShowCount(),
				progressbar.OptionSetItsString("batches"),
				progressbar.OptionShowIts(),
				progressbar.OptionClearOnFinish(),
				progressbar.OptionThrottle(100*time.Millisecond))
		}
		_ = p.bar.Set(done)
	case "plain":
		if t := p.now(); t.Sub(p.last) >= PlainInterval || done == total {
			p.last = t
			fmt.Fprintf(p.w, "%s gauntlet: suite %s %d/%d batches (%.0f%%)\n",
				t.UTC().Format(time.RFC3339), p.suite, done, total, 100*float64(done)/float64(total))
		}
	}
}

func (p *progress) Finish(suite, status string, d time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.bar != nil {
		_ = p.bar.Finish()
		p.bar = nil
	}
	if p.mode != "none" {
		fmt.Fprintf(p.w, "%s gauntlet: suite %s %s in %.2fs\n", p.now().UTC().Format(time.RFC3339), suite, status, d.Seconds())
	}
}
