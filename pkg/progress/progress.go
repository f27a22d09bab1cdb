// Package progress lets library code report progress without knowing about
// terminals: commands pass a Reporter that draws a bar on stderr (NewBar),
// or Nop.
package progress

// Unit names what a task counts; the caller picks it so that a rate reads
// "samples/s" or "runs/s", never a bare "it/s".
type Unit string

// Units in use. Any other name works too.
const (
	Samples  Unit = "samples"
	Runs     Unit = "runs"
	Requests Unit = "requests"
	Epochs   Unit = "epochs"
	Batches  Unit = "batches"
	// Seconds counts time itself (a run for a duration): shown with an
	// ETA, without a rate.
	Seconds Unit = "s"
	// Steps are a handful of coarse, model-level steps, each announced by
	// Step and shown as "step 3/7: NAME", without a rate.
	Steps Unit = "steps"
)

// Reporter receives progress of one task at a time.
type Reporter interface {
	// Start begins a task of total units (-1 if unknown).
	Start(what string, total int64, unit Unit)
	// Add reports n more units done.
	Add(n int64)
	// Step begins the next step of a Steps task, named name; the step
	// before it is done.
	Step(name string)
	// Done ends the task.
	Done()
}

// Nop discards progress.
var Nop Reporter = nop{}

type nop struct{}

func (nop) Start(string, int64, Unit) {}
func (nop) Add(int64)                 {}
func (nop) Step(string)               {}
func (nop) Done()                     {}
