package cache

import "fmt"

// Explain says why a step whose key has components now missed, given the
// components of the last record made for the same scope: the first
// component that differs, in words a user can act on. It returns "" when
// there is nothing to compare against.
func Explain(now, last []Component) string {
	if last == nil {
		return ""
	}
	old := make(map[string]string, len(last))
	for _, c := range last {
		old[c.Name] = c.Value
	}
	for _, c := range now {
		v, ok := old[c.Name]
		switch {
		case !ok:
			return fmt.Sprintf("%s added", c.Name)
		case v != c.Value:
			return fmt.Sprintf("%s changed", c.Name)
		}
		delete(old, c.Name)
	}
	for _, c := range last {
		if _, ok := old[c.Name]; ok {
			return fmt.Sprintf("%s removed", c.Name)
		}
	}
	return ""
}
