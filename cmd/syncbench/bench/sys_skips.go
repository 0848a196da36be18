package bench

// procSkips are the scenarios that need Linux's /proc for a figure of their rows, with
// the reason their rows give elsewhere (platformSkip, outside Linux).
var procSkips = map[string]string{
	"rss":          "needs Linux's /proc/PID/status for the server's resident set",
	"growth":       "needs Linux's /proc/PID/status for syncd's resident set",
	"initial-sync": "needs Linux's /proc/PID/stat for the rsync daemon's CPU time",
}

// syncSkips are the scenarios that flush the machine's dirty pages between parts, with
// the reason their rows give where there is no such flush (platformSkip, on Windows).
var syncSkips = map[string]string{
	"small-uploads": "needs syncfs(2) to settle the disk between parts; Windows has none",
	"delta":         "needs sync(2) to flush each edit before the timed runs; Windows has none",
}
