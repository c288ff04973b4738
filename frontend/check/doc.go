// Package check lints a Dockerfile, and optionally its build context, for
// known pitfalls: the rules of BuildKit's own linter, driven through
// BuildKit's parser, instructions and linter packages, plus bld's rules for
// the mistakes that make images slow to build, fat or fragile to run.
//
// Check parses the Dockerfile once and returns Findings sorted by line, each
// with the rule's name, a one-sentence reason and a one-line fix. Rules are
// skipped and turned into errors the way BuildKit does it: the parser
// directive
//
//	# check=skip=RootUser,LayerExplosion;error=true
//
// on the first lines of the file, the same syntax in a comment directly above
// one instruction (for that instruction only), and Options.Skip and
// Options.Error, which build.Check fills from bld's --check-skip and
// lint --error.
// With error=true every warning becomes an error and Failed reports true;
// info findings (HostUIDMismatch) never fail a build.
//
// BuildKit runs some of its rules while parsing (MaintainerDeprecated,
// StageNameCasing, FromAsCasing, NoEmptyContinuation, the experimental
// InvalidDefinitionDescription); Check gets those from parser.Parse and
// instructions.Parse with a *linter.Linter. The rest run inside BuildKit's
// dockerfile2llb conversion, which needs the resolved base images; Check
// replays the stage and ARG/ENV analysis they need itself and reports them
// through the same linter, with BuildKit's rule names, messages and URLs.
// RootUser reads the base image's USER through Options.BaseUser (build.Check
// resolves it from the local store) and says when it could not.
// Without the base image two rules are approximate. UndefinedVar does not
// know the variables a base image defines, so in a stage whose base is an
// image other than scratch it reports only near misses of a known variable,
// within one character of its length ($PAHT for $PATH, never $GOPATH).
// CopyIgnoredFile trusts Options.Ignore, which should consider parent
// directories and ! exclusions (patternmatcher's MatchesOrParentMatches).
// InvalidBaseImagePlatform is not checked: it compares the platform of the
// pulled base image, which a lint does not have.
//
// Without a Target, every stage is checked (like `docker build --check`);
// with one, only the stages it needs. The "final stage" of the image rules is
// the target, or the last stage.
//
// Key types: Options, Finding (with its Severity), ParseError, and Rule,
// the table behind Explain.
//
// Check never panics and does no I/O except, when Options.ContextDir is
// set, reading the context directory (and its .dockerignore when
// Options.Ignore is nil). It is safe for concurrent use.
package check
