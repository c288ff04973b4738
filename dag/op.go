package dag

import (
	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// Op is one of the closed set of step kinds: *Source, *Copy, *Run, *Mkdir.
type Op interface {
	// Kind names the op in encodings and progress output.
	Kind() string
	isOp()
}

// Source is a FROM: an image resolved to a manifest digest, or scratch.
type Source struct {
	Ref      string  // canonical reference as resolved ("" for scratch)
	Digest   v1.Hash // manifest digest the ref resolved to (zero for scratch)
	Platform string  // "os/arch[/variant]"
}

// Copy is COPY or ADD. Sources are read from the build context when From is
// empty, else from Inputs[1] (another stage or an image).
type Copy struct {
	Sources    []string  // as written after expansion: context-relative paths, globs, or URLs (ADD)
	Heredocs   []Heredoc // COPY <<EOF inline files, written under Dest
	Dest       string    // absolute destination, WORKDIR applied; a trailing "/" is kept
	From       string    // "" for the context; else the stage name or image ref, for labels and keys
	Chown      string    // as written ("user", "user:group", "uid:gid"), resolved in the parent's /etc/passwd
	Chmod      string    // octal, as written
	Link       bool
	Exclude    []string
	Add        bool   // ADD semantics: local archives extracted, URLs fetched
	Checksum   string // ADD --checksum
	KeepGitDir bool
	Parents    bool
}

// Heredoc is an inline file of COPY/ADD (or a script of RUN).
type Heredoc struct {
	Name   string // file name (COPY) or the delimiter word (RUN)
	Data   string
	Expand bool
}

// Run is a RUN step.
type Run struct {
	Args    []string // the full argv (shell form already wrapped in SHELL)
	Env     []string // KEY=VALUE, the complete environment of the step
	User    string   // as in USER: "name", "uid", "name:group", "uid:gid"; "" is root
	Dir     string   // working directory (absolute), created if missing
	Network string   // "" (the build's default), "default" (an isolated network namespace), "host" or "none"
	Mounts  []RunMount
	// Heredocs are RUN heredoc scripts with a shebang, mounted read-only
	// (mode 0755) at /dev/pipes/<Name> for the step only; Args name them.
	Heredocs []Heredoc
	// Security is "" (the sandbox) or "insecure" (RUN --security=insecure,
	// which needs the security.insecure entitlement). Left out of the
	// encoding when empty, so the keys of other RUN steps do not change.
	Security string `json:",omitempty"`
}

// RunMount is one RUN --mount flag, after expansion.
type RunMount struct {
	Type      string // bind, cache, tmpfs, secret, ssh
	Target    string // absolute, WORKDIR applied
	Source    string // path in the source (bind, cache) or host file for nothing else
	From      string // stage or image name for bind/cache; "" for the context (bind) or a fresh cache
	Input     int    // index in Vertex.Inputs of From's vertex; 0 when From is ""
	ReadWrite bool
	ID        string // cache or secret id
	Sharing   string // shared, private, locked
	Mode      uint32 // 0 when unset
	UID, GID  int    // -1 when unset
	Required  bool   // secret
	Env       string // secret exposed as env var
	Size      int64  // tmpfs size in bytes, 0 unlimited
}

// Mkdir creates a directory (WORKDIR), owned by User ("" is root).
type Mkdir struct {
	Path string
	User string
}

func (*Source) Kind() string { return "source" }
func (*Copy) Kind() string   { return "copy" }
func (*Run) Kind() string    { return "run" }
func (*Mkdir) Kind() string  { return "mkdir" }
func (*Source) isOp()        {}
func (*Copy) isOp()          {}
func (*Run) isOp()           {}
func (*Mkdir) isOp()         {}
