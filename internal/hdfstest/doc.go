// Package hdfstest runs an in-process HDFS stand-in for tests: a NameNode
// (optionally two, for HA) and one DataNode on loopback that speak the
// real wire protocols, so that the unmodified HDFS client library
// (github.com/colinmarc/hdfs/v2), and through it package io/hdfs, takes
// its production code paths. It is a test double, not an HDFS
// implementation: real clusters are the production target, and behaviour
// that matters there must be checked against one (see docs/hdfs.md).
//
//	cluster := hdfstest.StartTest(t, hdfstest.Options{BlockSize: 256 << 10})
//	uri := cluster.URL("/in/data.txt") // "hdfs://127.0.0.1:PORT/in/data.txt"
//
// # Protocols
//
// The NameNode speaks Hadoop RPC version 9 with simple authentication
// (connection header, IpcConnectionContextProto, RpcRequestHeaderProto and
// RequestHeaderProto, varint-delimited protobuf, error replies carrying
// the Java exception class). It builds and parses Hadoop's messages by
// name through the protobuf registry, where the client library registers
// them; no .proto file is copied. SASL/Kerberos connections are refused.
//
// ClientProtocol methods implemented: getServerDefaults, getFileInfo,
// getListing (paginated, see Options.ListLimit), getBlockLocations,
// mkdirs, create (CREATE and OVERWRITE flags, createParent), addBlock,
// updateBlockForPipeline, complete, rename2 (with overwrite), delete and
// renewLease. Other methods fail with RpcNoSuchMethodException. Errors
// are the exceptions a NameNode throws (FileNotFoundException,
// FileAlreadyExistsException, AlreadyBeingCreatedException,
// PathIsNotEmptyDirectoryException, ParentNotDirectoryException,
// AccessControlException, SafeModeException, LeaseExpiredException,
// StandbyException, IOException). Leases are checked by client name but
// never expire; permissions are not checked except by DenyPrefix.
//
// The DataNode speaks DataTransferProtocol version 28: WRITE_BLOCK
// (PIPELINE_SETUP_CREATE and _APPEND; packets with CRC32C, CRC32 or no
// checksums verified per chunk, acknowledged in order, heartbeats, a final
// empty packet) and READ_BLOCK (from a chunk-aligned offset, CRC32C,
// 64 KiB packets, a final empty packet). There is no pipeline: every
// block has one replica on the one DataNode. Data is kept in memory.
//
// # Fault injection and load
//
// StopNameNode/StartNameNode (unreachable NameNode), StopDataNode,
// StartDataNode and KillDataNodeAfter (a DataNode dying mid-write),
// ResetAfterCall (the connection drops after a call took effect),
// SetSafeMode, DenyPrefix (permission denied below a path) and, with
// Options.HA, Failover (the active NameNode turns standby and answers
// StandbyException). Ops counts the NameNode calls per method, so tests
// and benchmarks can assert NameNode load; DataPackets counts written
// packets.
package hdfstest
