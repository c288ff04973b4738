package main

import (
	"bytes"
	"encoding/csv"
	"strings"

	"github.com/spf13/pflag"
)

// listValue is pflag's stringArray (each use of the flag adds its value as
// it is) or, with csv, its stringSlice (each use adds its comma-separated
// values), with the same Set, Type and SliceValue methods. pflag's own
// format every default as CSV when the flag is defined, a csv.Writer and
// its 4 KiB buffer each: for bld's list flags that was ~0.9 ms of every
// start (perf, no-op build). An empty list formats as "" (pflag: "[]"), so
// --help shows no default for either.
type listValue struct {
	p       *[]string
	csv     bool
	changed bool
}

func (v *listValue) Set(s string) error {
	vals := []string{s}
	if v.csv {
		var err error
		if vals, err = readCSV(s); err != nil {
			return err
		}
	}
	if !v.changed {
		*v.p = vals
	} else {
		*v.p = append(*v.p, vals...)
	}
	v.changed = true
	return nil
}

func (v *listValue) Type() string {
	if v.csv {
		return "stringSlice"
	}
	return "stringArray"
}

func (v *listValue) String() string {
	if len(*v.p) == 0 {
		return ""
	}
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	_ = w.Write(*v.p) // to a bytes.Buffer: cannot fail
	w.Flush()
	return "[" + strings.TrimSuffix(b.String(), "\n") + "]"
}

func (v *listValue) Append(s string) error {
	*v.p = append(*v.p, s)
	return nil
}

func (v *listValue) Replace(vals []string) error {
	*v.p = append([]string(nil), vals...)
	return nil
}

func (v *listValue) GetSlice() []string { return append([]string{}, *v.p...) }

func readCSV(s string) ([]string, error) {
	if s == "" {
		return []string{}, nil
	}
	return csv.NewReader(strings.NewReader(s)).Read()
}

// stringArrayVarP is f.StringArrayVarP with no default.
func stringArrayVarP(f *pflag.FlagSet, p *[]string, name, short, usage string) {
	*p = nil
	f.VarP(&listValue{p: p}, name, short, usage)
}

// stringSliceVarP is f.StringSliceVarP with no default.
func stringSliceVarP(f *pflag.FlagSet, p *[]string, name, short, usage string) {
	*p = nil
	f.VarP(&listValue{p: p, csv: true}, name, short, usage)
}
