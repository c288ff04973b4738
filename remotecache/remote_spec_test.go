package remotecache

import (
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/bldbuild/bld/cache"
)

func TestParseExportSpec(t *testing.T) {
	tests := []struct {
		in   string
		want ExportSpec
		err  string
	}{
		{in: "reg.example/app/cache:main", want: ExportSpec{Type: "registry", Ref: "reg.example/app/cache:main", Mode: "min", MountMax: DefaultMountMax}},
		{in: "type=registry,ref=r/c:t,mode=max,compression=zstd,cache-mounts=true,cache-mount-max=1G,ignore-error=true,image-manifest=true,oci-mediatypes=true",
			want: ExportSpec{Type: "registry", Ref: "r/c:t", Mode: "max", Compression: "zstd", CacheMounts: true, MountMax: 1 << 30, IgnoreError: true}},
		{in: "ref=r/c:t,cache-mount-max=100MiB", want: ExportSpec{Type: "registry", Ref: "r/c:t", Mode: "min", MountMax: 100 << 20}},
		{in: "type=local,dest=/tmp/c,cache-mount-max=4096", want: ExportSpec{Type: "local", Dest: "/tmp/c", Tag: "latest", Mode: "min", MountMax: 4096}},
		{in: "type=local,dest=/tmp/c,tag=v1,cache-mounts=1", want: ExportSpec{Type: "local", Dest: "/tmp/c", Tag: "v1", Mode: "min", CacheMounts: true, MountMax: DefaultMountMax}},
		{in: `type=local,dest="/tmp/a,b"`, want: ExportSpec{Type: "local", Dest: "/tmp/a,b", Tag: "latest", Mode: "min", MountMax: DefaultMountMax}},
		{in: "type=inline", want: ExportSpec{Type: "inline", Mode: "min", MountMax: DefaultMountMax, Inline: true}},
		{in: "inline", want: ExportSpec{Type: "inline", Mode: "min", MountMax: DefaultMountMax, Inline: true}},
		{in: "", err: "cache-to: empty value"},
		{in: "type=registry,ref=r,mode=all", err: "cache-to mode=all: want min or max"},
		{in: "type=registry,ref=r,compression=lz4", err: "cache-to compression=lz4: want gzip or zstd"},
		{in: "type=registry,ref=r,cache-mounts=maybe", err: "cache-to cache-mounts=maybe: invalid syntax"},
		{in: "type=registry,ref=r,cache-mount-max=lots", err: "cache-to cache-mount-max=lots: want a size"},
		{in: "type=registry,ref=r,cache-mount-max=-1", err: "cache-to cache-mount-max=-1: want a size"},
		{in: "type=registry,ref=r,colour=blue", err: `cache-to: unknown key "colour"`},
		{in: "type=registry,ref=r,mode", err: `cache-to "mode": want key=value`},
		{in: "type=registry", err: "type=registry needs ref="},
		{in: "type=registry,ref=r,dest=/x", err: "takes ref=, not dest="},
		{in: "type=local", err: "type=local needs dest="},
		{in: "type=local,dest=/x,ref=r", err: "takes dest=, not ref="},
		{in: "type=inline,ref=r", err: "type=inline takes no ref="},
		{in: "type=inline,cache-mounts=true", err: "cache-mounts=true needs type=registry or type=local"},
		{in: "type=s3,bucket=b", err: `unknown key "bucket"`},
		{in: "type=s3", err: "cache-to type=s3: unsupported"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			got, err := ParseExportSpec(tc.in)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("ParseExportSpec(%q) = %+v, %v; want error %q", tc.in, got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("ParseExportSpec(%q) = %+v, %v; want %+v", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestExportErrors(t *testing.T) {
	ctx := t.Context()
	reg := newRegistry(t)
	f := newFixture(t)
	noDiffID := f.records[0]
	noDiffID.DiffID = v1.Hash{}
	missing := f.records[0]
	missing.Layer = &v1.Descriptor{Digest: v1.Hash{Algorithm: "sha256", Hex: strings.Repeat("a", 64)}}
	tests := []struct {
		name string
		spec string
		e    Export
		want string
	}{
		{"layer not in store", reg + "/c:x", Export{Records: []cache.Record{missing}, Layer: f.layer}, "cache-to " + reg + "/c:x: layer sha256:aaaa"},
		{"no diffID", reg + "/c:x", Export{Records: []cache.Record{noDiffID}, Layer: f.layer}, "has no diffID"},
		{"no Layer func", reg + "/c:x", Export{Records: f.records}, "no Export.Layer"},
		{"compression mismatch", "type=registry,ref=" + reg + "/c:x,compression=zstd", Export{Records: f.records, Layer: f.layer}, "not compression=zstd"},
		{"bad ref", "type=registry,ref=Bad Ref", Export{}, "cache-to Bad Ref: "},
		{"bad dest", "type=local,dest=/proc/nope", Export{}, "cache-to /proc/nope: "},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			spec, err := ParseExportSpec(tc.spec)
			if err != nil {
				t.Fatal(err)
			}
			err = spec.Write(ctx, tc.e, nameOpts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Write = %v, want an error containing %q", err, tc.want)
			}
		})
	}
}
