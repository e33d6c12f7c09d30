// Package hdfs is dagflow's HDFS file system: a filesystem.FileSystem for
// "hdfs://" URIs on top of the HDFS client library
// github.com/colinmarc/hdfs/v2, which speaks Hadoop RPC to NameNodes and
// DataTransferProtocol to DataNodes (no JVM, no libhdfs).
//
// File sources and sinks of package io/fileio resolve hdfs:// paths by
// default (filesystems.Default calls Register). To use other settings,
// register a configured instance:
//
//	reg := hdfs.Register(filesystem.NewRegistry(), hdfs.Config{User: "etl"})
//	src := fileio.Lines("hdfs://nameservice1/logs/*.gz").With(fileio.WithRegistry(reg))
//
// # URIs
//
//   - hdfs://host:port/path names a NameNode;
//   - hdfs://name/path names a nameservice of the Hadoop configuration
//     (HA: dfs.ha.namenodes.name and dfs.namenode.rpc-address.name.NN;
//     federation: dfs.namenode.rpc-address.name), else host "name" on
//     port 8020;
//   - hdfs:///path uses fs.defaultFS.
//
// The path is taken literally: it is cleaned ("//" and "." removed) but
// not percent-decoded, so every path the file system returns resolves
// back to the same file. FileInfo.Path keeps the scheme and authority as
// the caller spelled them.
//
// # Configuration
//
// New and Register read core-site.xml and hdfs-site.xml from
// HADOOP_CONF_DIR (else HADOOP_HOME/etc/hadoop), overlaid with
// Config.Properties. The user is Config.User, else HADOOP_USER_NAME, else
// the OS user. With hadoop.security.authentication=kerberos the client
// authenticates with Kerberos (credential cache as after kinit, or a
// keytab) to the NameNode principal dfs.namenode.kerberos.principal;
// dfs.data.transfer.protection and dfs.encrypt.data.transfer select
// DataNode SASL protection.
//
// # Semantics
//
// The contract of package filesystem holds (checked by the fstest
// conformance suite), with these HDFS specifics:
//
//   - Rename uses the NameNode's rename2 with the overwrite option: it is
//     atomic and replaces an existing destination file or empty directory,
//     like rename(2), so the sinks' commit (pending → final) works as on
//     local disks. Renaming onto itself succeeds. Both URIs must name the
//     same authority.
//   - Create writes a new file (never overwriting) and makes missing
//     parents. Data becomes visible to readers when Close returns nil;
//     until then the file is under construction. Writes cannot recover
//     from a DataNode failure: Write or Close fails (the error says the
//     DataNode write pipeline failed), and the incomplete file stays until
//     removed, as the sinks do.
//   - Open reads the length known at open time. ReadAt does not move the
//     offset of Read; seeking past the end is allowed (reads return EOF).
//   - Errors are *fs.PathError (*os.LinkError for Rename) naming the URI
//     and match fs.ErrNotExist, fs.ErrExist, fs.ErrPermission,
//     syscall.ENOTEMPTY, filesystem.ErrNotDir, filesystem.ErrIsDir,
//     ErrSafeMode and ErrUnavailable.
//   - Every method checks its context before each attempt and while
//     waiting to retry. A NameNode call in flight is bounded by
//     Config.IOTimeout instead; so are DataNode reads and writes.
//
// # Connections and retries
//
// One library client (one NameNode connection, with its own NameNode
// failover for HA) serves each authority. It is made by the first call
// and closed after Config.IdleTimeout without calls or open files.
// NameNode calls that fail with a transient error are retried
// Config.Retries times with exponential backoff on a new connection:
// all calls when the NameNode cannot have received them (connection
// refused, every NameNode in standby, RetriableException, or a
// connection the NameNode had closed since the previous call); only the
// idempotent ones (Open, Stat, List, Glob, MkdirAll, RemoveAll) when the
// connection failed mid-call. Create, Rename and Remove then fail with
// the error, since they may have taken effect; the sinks' commit copes
// with a rename that did. The final error of an unreachable NameNode
// matches ErrUnavailable and names its address(es).
package hdfs
