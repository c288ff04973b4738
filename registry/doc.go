// Package registry is bld's one client of container registries: every
// pull, push, cache import/export and login goes through it, so the rules
// below are written once.
//
//   - References: [Client.ParseReference] parses an image name and decides
//     plain HTTP or HTTPS with the one insecure rule ([Client.Insecure]):
//     loopback hosts (localhost, 127.0.0.0/8, ::1, with or without a port)
//     are plain HTTP; an Options.Insecure entry NAME covers NAME at any
//     port, NAME:PORT covers exactly that.
//   - Auth: credentials come from ~/.docker/config.json and its credential
//     helpers (authn.DefaultKeychain); [Client.Login] checks credentials with
//     a registry and stores them as docker login does.
//   - Retries: [Client.RemoteOptions] and [Client.Transport] carry one retry
//     policy (408, 429 and 5xx answers, dropped connections, a body cut
//     short mid-blob), with bounded backoff that honours the context.
//   - Mounts: [BlobLocations] remembers which repositories hold a blob;
//     [MountFrom] and [BlobLocations.Mountable] make an image's blobs
//     mountable across repositories of one registry.
//   - Limits: [Limits] bound a pull where its bytes are read: every
//     manifest or index response is cut at ManifestSize (4 MiB, containerd's
//     figure) by the Client's transport, and [Limits.CheckImage] refuses an
//     image whose manifest declares a config over ConfigSize (8 MiB) or more
//     than Layers (127) layers before its config is fetched; the error,
//     [LimitError], names the image and the `--limit` key.
//   - Errors: [Error] names the reference and the HTTP status, once.
//
// The HTTP side is go-containerregistry's remote and transport packages;
// what is hand-written here is what they lack: the per-request retry of a
// request whose body can be replayed and the resumption of a blob download
// cut short (ggcr retries only whole uploads, and never a body read), and
// the insecure rule, and the manifest size cap on responses (ggcr's own
// is a fixed 100 MiB).
package registry
