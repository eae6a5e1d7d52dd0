package check

import "github.com/meshready/meshready/internal/report"

// AttachLoadRun records a load run the part relied on; the engine lists it
// once in the report's loadRuns (with this item in its usedBy), where the
// renderers chart its latency curve.
func (c *Context) AttachLoadRun(run report.LoadRun) { c.loadRuns = append(c.loadRuns, run) }

// LoadRuns returns the runs attached with AttachLoadRun, in attach order.
func (c *Context) LoadRuns() []report.LoadRun { return c.loadRuns }
