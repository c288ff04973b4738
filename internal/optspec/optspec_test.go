package optspec

import (
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	sy := Syntax{Keys: []string{"type", "dest", "name"}}
	for _, tc := range []struct {
		spec string
		want Spec
	}{
		{"type=local,dest=out", Spec{{"type", "local"}, {"dest", "out"}}},
		{`type=local,"dest=a,b"`, Spec{{"type", "local"}, {"dest", "a,b"}}},
		{`"name=a:1,b:2",type=image`, Spec{{"name", "a:1,b:2"}, {"type", "image"}}},
		{" Type = oci , dest=a b.tar", Spec{{"type", "oci"}, {"dest", "a b.tar"}}},
		{"name=a,name=b", Spec{{"name", "a"}, {"name", "b"}}},
		{"dest=x=y", Spec{{"dest", "x=y"}}},
		{"dest=", Spec{{"dest", ""}}},
		{`type=local,dest="a,b"`, Spec{{"type", "local"}, {"dest", "a,b"}}},
		{`dest="a,b",type=local`, Spec{{"dest", "a,b"}, {"type", "local"}}},
		{`dest="say ""hi"", twice",name=n`, Spec{{"dest", `say "hi", twice`}, {"name", "n"}}},
		{`"name=a,b",dest="c,d"`, Spec{{"name", "a,b"}, {"dest", "c,d"}}},
		{`dest=""`, Spec{{"dest", ""}}},
	} {
		got, err := sy.Parse(tc.spec)
		if err != nil {
			t.Errorf("Parse(%q): %v", tc.spec, err)
			continue
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("Parse(%q) = %q, want %q", tc.spec, got, tc.want)
		}
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		sy   Syntax
		spec string
		want string
	}{
		{Syntax{Keys: []string{"type"}}, "", "empty"},
		{Syntax{Keys: []string{"type"}}, "type=a,colour=red", `unknown key "colour"`},
		{Syntax{Keys: []string{"type"}}, "type=a,word", `"word" is not key=value`},
		{Syntax{Keys: []string{"type"}, Bare: true}, "type=a,,b", `"" is not key=value`},
		{Syntax{Keys: []string{"dest"}}, `dest="a,b`, "quote"},
		{Syntax{Keys: []string{"dest"}}, `dest=a"b`, "quote a whole field"},
		{Syntax{Keys: []string{"dest"}}, `dest="a"b`, "extraneous"},
	} {
		_, err := tc.sy.Parse(tc.spec)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v, want an error containing %q", tc.spec, err, tc.want)
		}
	}
}

func TestBareWordsAndLookups(t *testing.T) {
	s, err := Syntax{Keys: []string{"id", "src"}, Bare: true}.Parse("mysecret,src=a,src=b")
	if err != nil {
		t.Fatal(err)
	}
	if want := (Spec{{"", "mysecret"}, {"src", "a"}, {"src", "b"}}); !reflect.DeepEqual(s, want) {
		t.Fatalf("got %q, want %q", s, want)
	}
	if v, ok := s.Get("src"); !ok || v != "b" {
		t.Errorf(`Get("src") = %q, %v; want the last, "b"`, v, ok)
	}
	if _, ok := s.Get("id"); ok {
		t.Error(`Get("id") found a value`)
	}
	if got := s.All("src"); !reflect.DeepEqual(got, []string{"a", "b"}) {
		t.Errorf(`All("src") = %q`, got)
	}
	if got := s.All(""); !reflect.DeepEqual(got, []string{"mysecret"}) {
		t.Errorf(`All("") = %q`, got)
	}
}

func TestNonEmpty(t *testing.T) {
	sy := Syntax{Keys: []string{"a", "b"}, NonEmpty: true}
	if _, err := sy.Parse("a=1,b="); err == nil || err.Error() != "b=: a value is needed" {
		t.Errorf("Parse(a=1,b=) = %v, want b=: a value is needed", err)
	}
	if _, err := (Syntax{Keys: []string{"a"}}).Parse("a="); err != nil {
		t.Errorf("without NonEmpty, a= is allowed: %v", err)
	}
}
