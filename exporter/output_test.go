package exporter

import (
	"reflect"
	"strings"
	"testing"
)

func TestParseOutput(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want OutputSpec
	}{
		{"type=oci,dest=out.tar", OutputSpec{Type: TypeOCI, Dest: "out.tar", Tar: true}},
		{"type=oci,dest=dir,tar=false", OutputSpec{Type: TypeOCI, Dest: "dir"}},
		{"type=oci,dest=-", OutputSpec{Type: TypeOCI, Dest: "-", Tar: true}},
		{"type=docker,dest=x.tar", OutputSpec{Type: TypeDocker, Dest: "x.tar", Tar: true}},
		{"type=docker", OutputSpec{Type: TypeDocker, Tar: true, Load: true}},
		{"type=docker,name=a:1", OutputSpec{Type: TypeDocker, Tar: true, Load: true, Names: []string{"a:1"}}},
		{"type=registry", OutputSpec{Type: TypeImage, Push: true}},
		{"type=registry,name=localhost:5000/app:v1", OutputSpec{Type: TypeImage, Push: true, Names: []string{"localhost:5000/app:v1"}}},
		{"type=image", OutputSpec{Type: TypeImage}},
		{"type=image,push=true", OutputSpec{Type: TypeImage, Push: true}},
		{`type=image,"name=a:1,b:2"`, OutputSpec{Type: TypeImage, Names: []string{"a:1", "b:2"}}},
		{"type=local,dest=dir", OutputSpec{Type: TypeLocal, Dest: "dir"}},
		{`type=local,"dest=a,b"`, OutputSpec{Type: TypeLocal, Dest: "a,b"}},
		{`type=local,dest="a,b"`, OutputSpec{Type: TypeLocal, Dest: "a,b"}},
		{"type=image,name=a:1,name=b:2", OutputSpec{Type: TypeImage, Names: []string{"a:1", "b:2"}}},
		{"type=local,dest=-", OutputSpec{Type: TypeTar, Dest: "-"}},
		{"type=tar,dest=f", OutputSpec{Type: TypeTar, Dest: "f"}},
		{"dir", OutputSpec{Type: TypeLocal, Dest: "dir"}},
		{"./out/dir", OutputSpec{Type: TypeLocal, Dest: "./out/dir"}},
		{"-", OutputSpec{Type: TypeTar, Dest: "-"}},
		{"type=oci,dest=o.tar,compression=zstd,compression-level=19,force-compression=true",
			OutputSpec{Type: TypeOCI, Dest: "o.tar", Tar: true, Compression: "zstd", CompressionLevel: 19, ForceCompression: true}},
		{"type=registry,compression=uncompressed", OutputSpec{Type: TypeImage, Push: true, Compression: "uncompressed"}},
		{" type = oci , dest=a b.tar", OutputSpec{Type: TypeOCI, Dest: "a b.tar", Tar: true}},
	} {
		got, err := ParseOutput(tc.spec)
		if err != nil {
			t.Errorf("ParseOutput(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("ParseOutput(%q) = %+v, want %+v", tc.spec, got, tc.want)
		}
	}
}

func TestParseOutputErrors(t *testing.T) {
	for _, tc := range []struct {
		spec string
		want string // in the error
	}{
		{"", "empty"},
		{"type=oci", "dest: required"},
		{"type=local", "dest: required"},
		{"type=tar", "dest: required"},
		{"dest=x", "type: missing"},
		{"type=cacheonly", `unknown type "cacheonly"`},
		{"type=oci,dest=x,colour=red", `unknown key "colour"`},
		{"type=oci,dest=x,tar=maybe", `tar="maybe"`},
		{"type=image,push=yes please", `push="yes please"`},
		{"type=oci,dest=x,compression=lz4", `compression="lz4"`},
		{"type=oci,dest=x,compression-level=high", `compression-level="high"`},
		{"type=oci,dest=x,compression-level=-1", `compression-level="-1"`},
		{"type=oci,dest=x,force-compression=2", `force-compression="2"`},
		{"type=docker,dest=x,tar=false", "tar=false"},
		{"type=oci,dest=-,tar=false", "dest=-"},
		{"type=image,dest=x", "dest: not for type=image"},
		{"type=registry,dest=x", "dest: not for type=registry"},
		{"type=registry,tar=true", "tar: not for type=registry"},
		{"type=local,dest=x,tar=true", "tar: not for type=local"},
		{"type=oci,dest=x,push=true", "push: only for"},
		{"type=oci,dest", `"dest" is not key=value`},
		{`type=local,dest=a"b`, `quote a whole field`},
	} {
		_, err := ParseOutput(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseOutput(%q) = %v, want error containing %q", tc.spec, err, tc.want)
		}
	}
}
