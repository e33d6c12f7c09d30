package filesystems

import (
	"github.com/dagflow/dagflow/io/filesystem"
	"github.com/dagflow/dagflow/io/hdfs"
)

// Default returns a new registry of the built-in file systems: local
// files (plain paths and file:// URIs) and HDFS (hdfs:// URIs, configured
// from HADOOP_CONF_DIR and HADOOP_USER_NAME; see package io/hdfs). It
// contacts no NameNode until an hdfs:// path is used. Each call returns a
// new registry, so registering on it affects only its holder.
func Default() *filesystem.Registry {
	return hdfs.Register(filesystem.NewRegistry(), hdfs.Config{})
}
