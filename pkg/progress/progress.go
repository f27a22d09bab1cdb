// Package progress lets library code report progress without knowing about
// terminals: commands pass a Reporter that draws a bar on stderr, or Nop.
package progress

// Reporter receives progress of one task at a time.
type Reporter interface {
	// Start begins a task of total units (-1 if unknown).
	Start(what string, total int64)
	// Add reports n more units done.
	Add(n int64)
	// Done ends the task.
	Done()
}

// Nop discards progress.
var Nop Reporter = nop{}

type nop struct{}

func (nop) Start(string, int64) {}
func (nop) Add(int64)           {}
func (nop) Done()               {}
