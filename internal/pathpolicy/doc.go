// Package pathpolicy keeps client-supplied locations inside the places an
// operator allowed: checkpoint, savepoint and storage directories must lie
// under one of the configured roots (--allowed-dirs), and ids that become
// file names (job ids, binary hashes) must not be able to traverse
// directories.
//
// A directory is a plain absolute path ("/data/ckpt") or a URI
// ("file:///data/ckpt", "hdfs://nn:8020/dagflow/sp"), as accepted by
// io/filesystem. Check rejects, before any cleaning, a ".." segment,
// relative paths, control characters, percent-encoding, user
// information, queries and fragments; then it requires the scheme to be
// one of the roots' schemes, the host (and port, compared literally) to be
// the root's, and the cleaned path to equal the root's path or lie below
// it. Plain paths and file URIs are the same scheme ("file"). Symbolic
// links are not resolved: roots must not contain links that users can
// create.
package pathpolicy
