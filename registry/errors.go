package registry

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
)

// Error returns err naming ref and, when a registry answered, its HTTP
// status, on one line: "REF: HTTP 404 Not Found: GET …: MANIFEST_UNKNOWN: …".
// A registry that speaks plain HTTP to an HTTPS request gets a hint to
// add it to the insecure registries. err stays reachable with errors.Is
// and errors.As. Error(ref, nil) is nil.
//
// ref may be "" when the caller's own wrapping already names it.
func Error(ref string, err error) error {
	if err == nil {
		return nil
	}
	return &refError{ref: ref, err: err}
}

type refError struct {
	ref string
	err error
}

func (e *refError) Unwrap() error { return e.err }

func (e *refError) Error() string {
	msg := strings.Join(strings.Fields(e.err.Error()), " ") // one line
	var b strings.Builder
	sep := func() { // ": " between parts; ref may be "" when the caller names it
		if b.Len() > 0 {
			b.WriteString(": ")
		}
	}
	b.WriteString(e.ref)
	var te *transport.Error
	if errors.As(e.err, &te) && te.StatusCode != 0 &&
		!strings.Contains(msg, fmt.Sprintf("status code %d", te.StatusCode)) {
		sep()
		fmt.Fprintf(&b, "HTTP %d %s", te.StatusCode, http.StatusText(te.StatusCode))
	}
	sep()
	b.WriteString(msg)
	// The hint only when no plain-HTTP attempt was made (an insecure
	// registry's ping tries both, and says so).
	if strings.Contains(msg, "server gave HTTP response to HTTPS client") &&
		!strings.Contains(msg, `"http://`) && !strings.Contains(msg, " http://") {
		host := e.ref // a registry, as login names it
		if r, err := name.ParseReference(e.ref); err == nil && strings.Contains(e.ref, "/") {
			host = r.Context().RegistryStr()
		}
		fmt.Fprintf(&b, " (the registry speaks plain HTTP: allow it with --insecure-registry %s)", host)
	}
	return b.String()
}

// IsNotFound reports whether err is a registry's answer that the manifest,
// repository or blob asked for does not exist: MANIFEST_UNKNOWN,
// NAME_UNKNOWN or BLOB_UNKNOWN, or a bare HTTP 404. Authentication
// failures (UNAUTHORIZED, DENIED; some registries answer 404 with them)
// are not.
func IsNotFound(err error) bool {
	var te *transport.Error
	if !errors.As(err, &te) {
		return false
	}
	for _, d := range te.Errors {
		switch d.Code {
		case transport.ManifestUnknownErrorCode, transport.NameUnknownErrorCode, transport.BlobUnknownErrorCode:
			return true
		case transport.UnauthorizedErrorCode, transport.DeniedErrorCode:
			return false
		}
	}
	return te.StatusCode == http.StatusNotFound
}
