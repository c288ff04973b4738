package main

import (
	"slices"
	"testing"

	"github.com/spf13/pflag"
)

// listValue parses as pflag's stringArray and stringSlice do, and --help
// shows the same line for both.
func TestListValueAsPflag(t *testing.T) {
	for _, args := range [][]string{
		nil,
		{"--x", "a"},
		{"--x", "a,b", "--x", "c"},
		{"--x=", "--x", `"q,1",2`},
		{"-x", "a b", "-x", "a,b,,c"},
	} {
		for _, csv := range []bool{false, true} {
			var mine, theirs []string
			fm := pflag.NewFlagSet("m", pflag.ContinueOnError)
			ft := pflag.NewFlagSet("t", pflag.ContinueOnError)
			if csv {
				stringSliceVarP(fm, &mine, "x", "x", "usage")
				ft.StringSliceVarP(&theirs, "x", "x", nil, "usage")
			} else {
				stringArrayVarP(fm, &mine, "x", "x", "usage")
				ft.StringArrayVarP(&theirs, "x", "x", nil, "usage")
			}
			errM, errT := fm.Parse(args), ft.Parse(args)
			if (errM == nil) != (errT == nil) || !slices.Equal(mine, theirs) || (mine == nil) != (theirs == nil) {
				t.Errorf("csv=%v %q: got %q (%v), pflag %q (%v)", csv, args, mine, errM, theirs, errT)
			}
			if m, th := fm.Lookup("x").Value.String(), ft.Lookup("x").Value.String(); len(mine) > 0 && m != th {
				t.Errorf("csv=%v %q: String() = %q, pflag %q", csv, args, m, th)
			}
			if m, th := fm.FlagUsages(), ft.FlagUsages(); m != th {
				t.Errorf("csv=%v: usage %q, pflag %q", csv, m, th)
			}
		}
	}
}
