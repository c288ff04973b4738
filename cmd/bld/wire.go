package main

import "github.com/bldbuild/bld/registry"

// registryClient is the registry client for the global options: the
// --insecure-registry list, the default keychain, the retry policy.
func registryClient(g *globalOptions) *registry.Client {
	return registry.New(registry.Options{Insecure: g.insecure})
}
