package build

import (
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/builder"
)

// Progress receives what a build reports while it runs. Its methods may be
// called from several goroutines; Event calls are serialised by the builder.
type Progress interface {
	// Event is a step's state change, log line or byte count.
	Event(builder.Event)
	// Pushing is called as a push of the image to name starts; it reads
	// updates until they are closed and returns the last total (0 when the
	// registry had every blob).
	Pushing(name string, updates <-chan v1.Update) int64
	// Pushed reports the end of the push to name.
	Pushed(name string, size int64, took time.Duration, err error)
	// Message is a line for the user outside any step: cache import and
	// export notes, warnings.
	Message(msg string)
	// Exporting is called as the export of the image to the outputs
	// starts, once every step is done.
	Exporting()
	// Exported reports the image written, with the names it got, at the
	// end of its export (before any cache export).
	Exported(msg string, names []string)
	// ExportingCache is called as the export of the build cache to dest
	// (a --cache-to reference or directory) starts; its notes come as
	// Message calls until ExportedCache, which reports its end.
	ExportingCache(dest string)
	ExportedCache(dest string, err error)
}

// discard is the Progress of a build that asked for none.
type discard struct{}

func (discard) Event(builder.Event) {}
func (discard) Pushing(_ string, updates <-chan v1.Update) int64 {
	var total int64
	for u := range updates {
		total = u.Total
	}
	return total
}
func (discard) Pushed(string, int64, time.Duration, error) {}
func (discard) Message(string)                             {}
func (discard) Exporting()                                 {}
func (discard) Exported(string, []string)                  {}
func (discard) ExportingCache(string)                      {}
func (discard) ExportedCache(string, error)                {}
