package engine

import (
	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
)

// Thresholds above which a pass shows progress bars (when Options.Progress is set).
const (
	progressMinFiles = 20
	progressMinBytes = 16 << 20
)

// progress shows two bars on a terminal while a pass transfers many or large files:
// files done and bytes moved. A nil *progress does nothing.
type progress struct {
	p     *mpb.Progress
	files *mpb.Bar
	bytes *mpb.Bar
}

// newProgress returns bars for a pass of n transfers and size bytes, or nil when the
// pass is small or no terminal was given.
func (e *Engine) newProgress(n int, size int64, force bool) *progress {
	if e.opts.Progress == nil || n == 0 || (!force && n < progressMinFiles && size < progressMinBytes) {
		return nil
	}
	// The caller decided Progress is a terminal (clientapp checks stderr).
	p := mpb.New(mpb.WithOutput(e.opts.Progress), mpb.WithWidth(40), mpb.WithAutoRefresh())
	files := p.AddBar(int64(n),
		mpb.PrependDecorators(decor.Name("files ", decor.WC{W: 6}), decor.CountersNoUnit("%d / %d", decor.WC{W: 14})),
		mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5})))
	bytes := p.AddBar(size,
		mpb.PrependDecorators(decor.Name("bytes ", decor.WC{W: 6}), decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 14})),
		mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WC{W: 12})))
	return &progress{p: p, files: files, bytes: bytes}
}

// add counts n bytes moved.
func (pr *progress) add(n int64) {
	if pr != nil && n > 0 {
		pr.bytes.IncrInt64(n)
	}
}

// fileDone counts one finished (or failed) transfer.
func (pr *progress) fileDone() {
	if pr != nil {
		pr.files.Increment()
	}
}

// finish completes the bars and waits for the last render.
func (pr *progress) finish() {
	if pr == nil {
		return
	}
	pr.files.SetTotal(-1, true)
	pr.bytes.SetTotal(-1, true)
	pr.p.Wait()
}

// countWriter counts the bytes written through it into a progress.
type countWriter struct{ pr *progress }

func (c countWriter) Write(b []byte) (int, error) {
	c.pr.add(int64(len(b)))
	return len(b), nil
}
