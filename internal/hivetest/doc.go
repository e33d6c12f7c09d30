// Package hivetest runs an in-process Hive Metastore for tests: a Thrift
// server on loopback built from the generated metastore processor
// (github.com/beltran/gohive/hive_metastore) with an in-memory handler, so
// that package hive's metastore client takes its production code path
// (binary protocol over a buffered socket, SASL PLAIN, or SASL GSSAPI).
//
// Kerberos without a KDC: Kerberos derives a service key and mints
// tickets into a credential cache file (WriteCCache), WriteKrb5Conf
// writes a matching krb5.conf, and Options.Kerberos makes the metastore
// verify each client's AP-REQ with the service keytab (gokrb5's
// service.VerifyAPREQ), answer with an AP-REP and negotiate "no security
// layer"; Principals lists who authenticated, AuthErrors why others
// were refused.
//
//	ms := hivetest.StartTest(t, hivetest.Options{Warehouse: dir})
//	cat, _ := hive.Open(ctx, hive.Config{MetastoreURIs: []string{ms.URI()}})
//
// Implemented calls: get_all_databases, get_databases, get_database,
// create_database, drop_database, get_all_tables, get_tables, get_table,
// create_table, alter_table, drop_table, get_partition_names,
// get_partitions, get_partition, get_partitions_by_names, add_partition,
// add_partitions, alter_partition, alter_partitions, drop_partition and
// get_config_value. Every other call is answered with a
// TApplicationException UNKNOWN_METHOD naming it. Missing objects give
// NoSuchObjectException, duplicates AlreadyExistsException, as a real
// metastore does. Stop and Start make the metastore unreachable and back;
// Calls counts calls per method.
//
// It is a test double: patterns, filters, ACID, statistics and
// authorisation are not implemented.
package hivetest
