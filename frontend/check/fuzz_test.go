package check

import (
	"io"
	"strings"
	"testing"
)

// FuzzCheck checks that no input makes Check panic (Check recovers, and
// reports it as an internal error, which fails this test) and that every
// result can be formatted.
//
//	go test -run '^$' -fuzz FuzzCheck -fuzztime 60s ./frontend/check/
func FuzzCheck(f *testing.F) {
	for _, s := range []string{
		bad,
		"FROM busybox\nCOPY hello.txt /app/\nUSER 1000\nCMD [\"cat\", \"/app/hello.txt\"]\n",
		"# check=skip=all;error=true\nFROM a\n",
		"# escape=`\nFROM a\nRUN echo `\n  hi\n",
		"ARG B=x\nFROM ${B:-y} AS s\nCOPY --from=s --chown=${U:?} . .\nRUN --mount=type=cache,target=/x,from=s echo\n",
		"FROM a\nRUN <<EOF\napt-get update\nEOF\nCOPY <<EOF /f\n$X\nEOF\n",
		"FROM a\nCMD [\"sh\", \"-c\"]\nENTRYPOINT [\"sh\", \"-o\", \"pipefail\", \"-c\", \"exec x\"]\n",
		"FROM a\nHEALTHCHECK CMD x\nHEALTHCHECK NONE\nONBUILD RUN x\nSTOPSIGNAL SIGTERM\nSHELL [\"sh\"]\nVOLUME [\"\"]\n",
		"FROM --platform=$X/$Y a\nEXPOSE ::1:80/TCP 1-2 $P\nUSER $U:$G\nWORKDIR $W\n",
		"FROM a\nRUN useradd -u\nRUN adduser -uX --uid= -S\nRUN echo \"unterminated\nRUN echo 'x\nRUN $(echo ${x\nRUN `x\n",
		"FROM a AS b\nFROM b AS c\nFROM c\nCOPY --from=9 . .\nCOPY --from=-1 . .\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, df []byte) {
		fs, err := Check(df, Options{BuildArgs: map[string]string{"B": "c"}, Ignore: func(string) bool { return false }})
		if err != nil {
			if strings.Contains(err.Error(), "internal error") {
				t.Fatalf("Check panicked: %v\ninput: %q", err, df)
			}
			return
		}
		Failed(fs, Options{}, df)
		for _, format := range []string{"text", "json"} {
			if err := Format(io.Discard, fs, format); err != nil {
				t.Fatalf("Format %s: %v", format, err)
			}
		}
		for _, f := range fs {
			if f.Rule == "" || f.Message == "" || lookup(f.Rule) == nil {
				t.Fatalf("bad finding %+v", f)
			}
		}
	})
}
