package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/validate"
	"github.com/rogpeppe/go-internal/testscript"

	"github.com/bldbuild/bld/internal/testutil"
)

func TestMain(m *testing.M) {
	// A RUN step re-executes this binary as the sandbox init (package
	// sandbox's stepinit serves it before TestMain).
	testscript.Main(m, map[string]func(){
		"bld":          func() { os.Exit(start()) },
		"seccomp-deny": seccompDeny,
	})
}

// TestScript runs the end-to-end scripts in testdata/script: the real bld
// binary (this test binary re-executed), a real registry server, and a
// busybox base image made from Debian's busybox-static.
func TestScript(t *testing.T) {
	rootfs := filepath.Join(t.TempDir(), "busybox")
	testutil.BusyboxRootfs(t, rootfs)
	registry := testutil.Registry(t)
	testscript.Run(t, testscript.Params{
		Dir: "../../testdata/script",
		Setup: func(e *testscript.Env) error {
			e.Setenv("BUSYBOX", rootfs)
			e.Setenv("REGISTRY", registry)
			e.Setenv("BLD_ROOT", filepath.Join(e.WorkDir, ".bldroot"))
			e.Setenv("HOME", e.WorkDir)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				return os.Geteuid() == 0, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"validate": cmdValidate,
			"jsonget":  cmdJSONGet,
			"blobsize": cmdBlobSize,
		},
		RequireExplicitExec: true,
	})
}

// validate KIND PATH checks an exported image with go-containerregistry's
// validate package: KIND is oci (a layout directory) or docker (a tarball).
func cmdValidate(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: validate oci|docker PATH")
	}
	p := ts.MkAbs(args[1])
	var err error
	switch args[0] {
	case "oci":
		lp, e := layout.FromPath(p)
		if e != nil {
			err = e
			break
		}
		ii, e := lp.ImageIndex()
		if e != nil {
			err = e
			break
		}
		err = validate.Index(ii)
	case "docker":
		img, e := tarball.ImageFromPath(p, nil)
		if e != nil {
			err = e
			break
		}
		err = validate.Image(img)
	default:
		ts.Fatalf("validate: unknown kind %q", args[0])
	}
	if (err != nil) != neg {
		ts.Fatalf("validate %s %s: %v", args[0], args[1], err)
	}
}

// jsonget FILE PATH WANT checks that the JSON value at a path in FILE
// (slash-separated object keys or array indexes) prints as WANT.
func cmdJSONGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 3 {
		ts.Fatalf("usage: jsonget FILE PATH WANT")
	}
	var v any
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &v); err != nil {
		ts.Fatalf("jsonget %s: %v", args[0], err)
	}
	for _, k := range strings.Split(args[1], "/") {
		switch x := v.(type) {
		case map[string]any:
			v = x[k]
		case []any:
			var i int
			fmt.Sscan(k, &i)
			if i < 0 || i >= len(x) {
				v = nil
			} else {
				v = x[i]
			}
		default:
			v = nil
		}
	}
	got := fmt.Sprint(v)
	if b, err := json.Marshal(v); err == nil && (strings.HasPrefix(string(b), "[") || strings.HasPrefix(string(b), "{")) {
		got = string(b)
	}
	if (got == args[2]) == neg {
		ts.Fatalf("jsonget %s %s = %s, want %s%s", args[0], args[1], got, map[bool]string{true: "not "}[neg], args[2])
	}
}

// blobsize DUJSON ROOT checks that the blob sizes bld du --format json
// reports add up to the bytes of the blob files under ROOT/content.
func cmdBlobSize(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 2 {
		ts.Fatalf("usage: blobsize DUJSON ROOT")
	}
	var u struct {
		Blobs []struct{ Size int64 }
	}
	if err := json.Unmarshal([]byte(ts.ReadFile(args[0])), &u); err != nil {
		ts.Fatalf("blobsize: %v", err)
	}
	var reported, onDisk int64
	for _, b := range u.Blobs {
		reported += b.Size
	}
	err := filepath.Walk(filepath.Join(ts.MkAbs(args[1]), "content", "blobs"), func(_ string, fi os.FileInfo, err error) error {
		if err == nil && fi.Mode().IsRegular() {
			onDisk += fi.Size()
		}
		return err
	})
	if err != nil {
		ts.Fatalf("blobsize: %v", err)
	}
	if (reported == onDisk) == neg || reported == 0 {
		ts.Fatalf("du reports %d bytes of blobs, %d on disk", reported, onDisk)
	}
}
