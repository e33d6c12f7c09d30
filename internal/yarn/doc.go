// Package yarn is a client of Apache Hadoop YARN speaking Hadoop RPC
// (protocol buffers, package internal/hadooprpc) to the ResourceManager
// and the NodeManagers:
//
//   - Client: ApplicationClientProtocol (getNewApplication,
//     submitApplication, getApplicationReport, getApplications,
//     forceKillApplication, getClusterMetrics, getClusterNodes), with
//     failover between the ResourceManagers of an HA pair;
//   - AMClient: ApplicationMasterProtocol (registerApplicationMaster,
//     allocate heartbeats with container requests, releases and
//     blacklists, finishApplicationMaster), used by an ApplicationMaster;
//   - NMClient: ContainerManagementProtocol (startContainers,
//     stopContainers, getContainerStatuses).
//
// Configuration comes from yarn-site.xml in HADOOP_CONF_DIR (or
// YARN_CONF_DIR) and the user from HADOOP_USER_NAME or the OS user; see
// LoadConfig for the keys read.
//
// Security: simple authentication to the ResourceManager's client
// protocol; an ApplicationMaster authenticates to the scheduler with its
// AMRMToken (Config.Credentials, from HADOOP_TOKEN_FILE_LOCATION) and to
// NodeManagers with NMTokens (NMTokenCache, filled by AMClient), over
// SASL DIGEST-MD5 (package internal/hadooprpc). Kerberos is not
// implemented; docs/yarn.md says what that means.
//
// The message types are the generated subset in package yarnpb: Hadoop's
// message names and field numbers under the proto package dagflow.yarn.
package yarn
