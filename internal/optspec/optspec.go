// Package optspec reads the option specs of bld's flags in buildx's syntax:
// comma-separated key=value fields, read as one CSV record so that a field
// holding a comma is quoted whole, as buildx reads them:
//
//	type=local,dest=out
//	type=image,"name=a:1,b:2"
//
// A value quoted after its "=" (type=local,dest="a,b", as users write it)
// is read as the whole field quoted ("dest=a,b").
//
// The key set is the caller's (Syntax.Keys); a key outside it is an error
// naming the key. Keys are matched case-insensitively, keys and values are
// trimmed of spaces, keys may repeat (Spec keeps every field, in order),
// and bare words (fields without "=") are allowed where Syntax.Bare says so.
//
// Key types: Syntax (what a flag's spec may hold; Parse), Spec (its parsed
// Fields, in order) and UnknownKeyError (a key outside the syntax).
//
// The CSV reading is encoding/csv's; only the key rules are written here.
package optspec

import (
	"encoding/csv"
	"errors"
	"fmt"
	"slices"
	"strings"
)

// Field is one field of a spec. A bare word has Key "" and the word as
// Value.
type Field struct {
	Key, Value string
}

// Spec is a parsed spec: its fields, in order.
type Spec []Field

// Get returns the value of the last field with key, and whether there is
// one.
func (s Spec) Get(key string) (string, bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i].Key == key {
			return s[i].Value, true
		}
	}
	return "", false
}

// All returns the values of every field with key, in order.
func (s Spec) All(key string) []string {
	var out []string
	for _, f := range s {
		if f.Key == key {
			out = append(out, f.Value)
		}
	}
	return out
}

// UnknownKeyError is the error of a spec with a key outside Syntax.Keys.
type UnknownKeyError struct {
	Key  string   // the key, in lower case
	Keys []string // the keys the spec may use
}

func (e *UnknownKeyError) Error() string {
	return fmt.Sprintf("unknown key %q (want %s)", e.Key, strings.Join(e.Keys, ", "))
}

// Syntax is what a flag's spec may hold.
type Syntax struct {
	Keys     []string // the keys a spec may use, in lower case
	Bare     bool     // bare words (fields without "=") are allowed
	NonEmpty bool     // every key needs a value ("key=" is an error)
}

// Parse reads spec. Errors name the offending field or key; the caller
// adds which flag it was.
func (sy Syntax) Parse(spec string) (Spec, error) {
	if strings.TrimSpace(spec) == "" {
		return nil, errors.New("empty")
	}
	r := csv.NewReader(strings.NewReader(quoteFields(spec)))
	r.TrimLeadingSpace = true
	fields, err := r.Read()
	if errors.Is(err, csv.ErrBareQuote) {
		return nil, fmt.Errorf("%w (quote a whole field holding a comma: \"key=a,b\")", err)
	}
	if err != nil {
		return nil, err
	}
	out := make(Spec, 0, len(fields))
	for _, f := range fields {
		k, v, ok := strings.Cut(f, "=")
		if !ok {
			w := strings.TrimSpace(f)
			if !sy.Bare || w == "" {
				return nil, fmt.Errorf("%q is not key=value", f)
			}
			out = append(out, Field{Value: w})
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		if !slices.Contains(sy.Keys, k) {
			return nil, &UnknownKeyError{Key: k, Keys: sy.Keys}
		}
		v = strings.TrimSpace(v)
		if sy.NonEmpty && v == "" {
			return nil, fmt.Errorf("%s=: a value is needed", k)
		}
		out = append(out, Field{Key: k, Value: v})
	}
	return out, nil
}

// quoteFields rewrites each field of the form key="value" as "key=value",
// which encoding/csv reads as one quoted field; everything else is left to
// encoding/csv as it is.
func quoteFields(spec string) string {
	var b strings.Builder
	inQuotes, fieldStart := false, true
	for i := 0; i < len(spec); i++ {
		c := spec[i]
		if fieldStart && !inQuotes {
			fieldStart = false
			eq := strings.IndexAny(spec[i:], ",\"=")
			if eq > 0 && spec[i+eq] == '=' && i+eq+1 < len(spec) && spec[i+eq+1] == '"' {
				b.WriteByte('"')
				b.WriteString(spec[i : i+eq+1])
				i += eq + 1 // the opening quote, now before the key
				inQuotes = true
				continue
			}
		}
		switch {
		case c == '"':
			inQuotes = !inQuotes // "" inside quotes toggles twice: an escaped quote
		case c == ',' && !inQuotes:
			fieldStart = true
		}
		b.WriteByte(c)
	}
	return b.String()
}

// Parse reads spec with the given keys and no bare words.
func Parse(spec string, keys ...string) (Spec, error) {
	return Syntax{Keys: keys}.Parse(spec)
}
