package readers

import (
	"fmt"

	"github.com/docker/go-units"
)

// LimitError is input over one of bld's limits (`bld build --limit`): a
// document read whole (a manifest, an index, a config) larger than its
// bound, or an image with too many layers. Ref names the image (empty
// when the caller's error names it already), What the thing ("manifest",
// "config sha256:…", "layers"), Size what it has (for a body cut short,
// at least Limit+1), Key the --limit key that raises it. The registry client and the
// store return it, so the message is written once.
type LimitError struct {
	Ref   string
	What  string
	Size  int64
	Limit int64
	Key   string
}

func (e *LimitError) Error() string {
	prefix := ""
	if e.Ref != "" {
		prefix = e.Ref + ": "
	}
	if e.What == "layers" {
		return fmt.Sprintf("%simage has %d layers, over the limit of %d (--limit %s=N raises it)",
			prefix, e.Size, e.Limit, e.Key)
	}
	more := ""
	if e.Size > e.Limit {
		more = fmt.Sprintf(" is %d bytes,", e.Size)
	}
	return fmt.Sprintf("%s%s%s over the limit of %s (--limit %s=SIZE raises it)",
		prefix, e.What, more, units.BytesSize(float64(e.Limit)), e.Key)
}
