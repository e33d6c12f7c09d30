// Package filesystem is dagflow's storage abstraction: the FileSystem
// interface that file sources and sinks use, the local implementation
// (Local), and the scheme Registry that maps URIs such as
// "hdfs://namenode/data" or "file:///tmp/out" to a FileSystem.
//
// # Paths
//
// A path handed to the engine is either a plain local path ("/data/in",
// "rel/dir"), a file URI ("file:///data/in") or a URI with another scheme
// ("hdfs://nn:8020/data/in"). Registry.Resolve picks the FileSystem and the
// path to give it:
//
//   - plain paths and file URIs resolve to the registered "file" file
//     system with the local OS path ("/data/in");
//   - any other scheme resolves to the file system registered for it with
//     the URI unchanged. Such file systems receive full URIs and return
//     full URIs in FileInfo.Path, so every path they report can be
//     resolved again through the same registry.
//
// # Semantics every FileSystem provides
//
//   - Create makes missing parent directories and fails with an error
//     matching fs.ErrExist when the file already exists. It never
//     truncates existing data; remove the file first to replace it.
//   - Rename is atomic where the store allows (Local: rename(2)) and
//     REPLACES an existing destination file. Transactional sinks rely on
//     this: after Rename returns nil, "to" holds the data of "from" and
//     "from" is gone. The destination's parent directory must exist.
//   - List and Glob return entries sorted by path.
//   - Errors name the path and match fs.ErrNotExist, fs.ErrExist,
//     ErrNotDir and ErrIsDir with errors.Is where applicable.
//
// Every method takes a context so that remote implementations can honour
// cancellation; Local checks it before each operation.
//
// The package keeps no mutable package-level state: registries are values
// created with NewRegistry or Default.
package filesystem
