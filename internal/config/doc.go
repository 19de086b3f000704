// Package config holds the option structs shared by the qbackup commands and
// the kubectl plugin: kong flags that also read QBACKUP_* environment
// variables (so a CronJob sets them from a ConfigMap), and the secrets,
// which are read only from the environment or from files it names (a
// mounted Secret) — never from flags, so they never show in a process list,
// a Job spec's args or a log line.
package config
