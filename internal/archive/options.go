package archive

import "time"

// Whiteouts says how Extract treats entries named ".wh.NAME" and
// ".wh..wh..opq".
type Whiteouts int

const (
	// WhiteoutFiles extracts them as the ordinary files they are (ADD of
	// an archive, cache mounts, a flattened filesystem).
	WhiteoutFiles Whiteouts = iota
	// WhiteoutApply deletes what they name and empties opaque dirs but
	// for what the same archive wrote, as unpacking a layer onto the tree
	// of the layers below.
	WhiteoutApply
	// WhiteoutOverlay writes an overlay upper dir: a whiteout becomes a
	// 0/0 character device, an opaque dir gets trusted.overlay.opaque=y.
	// Options.Lower tells which directories the layers below have.
	WhiteoutOverlay
)

// Xattrs says what Extract does with SCHILY.xattr records.
type Xattrs int

const (
	XattrsSkip       Xattrs = iota // not written
	XattrsSet                      // written; an error is an error
	XattrsBestEffort               // written where the file system takes them (like BuildKit's ADD)
)

// DirAttrs are the attributes of a directory in a layer below.
type DirAttrs struct {
	Uid, Gid uint32
	Mode     uint32 // permission bits, setuid/setgid/sticky included
	Xattrs   map[string]string
	ModTime  time.Time
}

// LowerDirs answers for WhiteoutOverlay what the layers below hold.
type LowerDirs interface {
	// Dir returns the attributes of directory rel (slash-separated,
	// relative to the root) in the nearest layer below that has an entry
	// there, or nil if that entry is not a directory or no layer has one.
	Dir(rel string) (*DirAttrs, error)
}

// Options are the ways Extract's callers differ. The zero value extracts
// whiteouts as plain files, leaves owners to the running user, writes no
// xattrs and keeps modes and times as in the archive.
type Options struct {
	Whiteouts Whiteouts
	// Lower is the layers below, for WhiteoutOverlay: a directory a
	// layer implies but does not list is made like the lower's, and
	// whiteouts in a directory no layer has are dropped. Nil: none.
	Lower LowerDirs
	// RootAttrs applies the attributes of the archive's root entry ("./")
	// to the root; otherwise that entry is skipped. A root entry that is
	// not a directory is an error either way.
	RootAttrs bool
	// Owners chowns entries to the owner the archive gives them (through
	// MapOwner if set); otherwise they belong to the running user. Without
	// privileges, EPERM from chown is ignored.
	Owners bool
	// MapOwner maps an entry's uid and gid (--chown); directories the
	// archive implies are owned by MapOwner(0, 0).
	MapOwner func(uid, gid int) (int, int)
	Xattrs   Xattrs
	// StripSetuid clears setuid and setgid on everything but directories
	// (where setgid only passes the group on).
	StripSetuid bool
	// SkipDevices leaves out character and block devices and FIFOs.
	SkipDevices bool
	// ModTime maps an entry's mtime (a SOURCE_DATE_EPOCH clamp); nil
	// keeps it.
	ModTime func(time.Time) time.Time
	// ImpliedDirTime is the mtime of a directory the archive implies but
	// does not list; zero means the Unix epoch, so that extracting twice
	// gives equal trees.
	ImpliedDirTime time.Time
	// LinksLast makes hard links after every other entry, for archives
	// where a link may come before its target (mutate.Extract).
	LinksLast bool
	// MaxBytes > 0 bounds the bytes written to regular files.
	MaxBytes int64
}
