package clientapp

import (
	"io"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/syncspace/syncspace/sync/engine"
)

// terminalBars returns the engine's Progress callback that draws two bars on w (a
// terminal) for each pass with many or large transfers: files done and bytes moved.
func terminalBars(w io.Writer) func(files int, size int64) engine.Progress {
	return func(files int, size int64) engine.Progress {
		p := mpb.New(mpb.WithOutput(w), mpb.WithWidth(40), mpb.WithAutoRefresh())
		fb := p.AddBar(int64(files),
			mpb.PrependDecorators(decor.Name("files ", decor.WC{W: 6}), decor.CountersNoUnit("%d / %d", decor.WC{W: 14})),
			mpb.AppendDecorators(decor.Percentage(decor.WC{W: 5})))
		bb := p.AddBar(size,
			mpb.PrependDecorators(decor.Name("bytes ", decor.WC{W: 6}), decor.CountersKibiByte("% .1f / % .1f", decor.WC{W: 14})),
			mpb.AppendDecorators(decor.AverageSpeed(decor.SizeB1024(0), "% .1f", decor.WC{W: 12})))
		return &bars{p: p, files: fb, bytes: bb}
	}
}

// bars is one pass's pair of progress bars.
type bars struct {
	p     *mpb.Progress
	files *mpb.Bar
	bytes *mpb.Bar
}

func (b *bars) Add(n int64) { b.bytes.IncrInt64(n) }

func (b *bars) FileDone() { b.files.Increment() }

// Finish completes the bars at their current counts and waits for the last render.
func (b *bars) Finish() {
	b.files.SetTotal(-1, true)
	b.bytes.SetTotal(-1, true)
	b.p.Wait()
}
