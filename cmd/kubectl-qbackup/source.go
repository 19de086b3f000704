package main

import (
	"context"
	"errors"
	"fmt"
	"strconv"

	"k8s.io/client-go/kubernetes"

	"github.com/qbackup/qbackup/internal/config"
	"github.com/qbackup/qbackup/internal/kube"
)

// storeFlags say where the backups are. Unset, each comes from the
// installation in the namespace (the backup CronJob's ConfigMap), so an
// operator types no storage URL; set (flag or QBACKUP_* variable), it
// overrides. There is no local default: a workstation's file:// path is
// never where a cluster's backups are.
type storeFlags struct {
	QdrantCluster *string `name:"qdrant-cluster" env:"QBACKUP_CLUSTER" help:"Logical cluster name of the backups (default: the installation's QBACKUP_CLUSTER)."`
	Storage       *string `name:"storage" env:"QBACKUP_STORAGE" help:"Where backups live, s3://bucket/prefix or file:///path (default: the installation's QBACKUP_STORAGE)."`
	S3Endpoint    *string `name:"s3-endpoint" env:"QBACKUP_S3_ENDPOINT" help:"S3 endpoint for S3-compatible stores (default: the installation's)."`
	S3Region      *string `name:"s3-region" env:"QBACKUP_S3_REGION" help:"S3 region (default: the installation's, else us-east-1)."`
	S3PathStyle   *bool   `name:"s3-path-style" env:"QBACKUP_S3_PATH_STYLE" help:"Path-style S3 addressing (default: the installation's)."`
	S3MaxAttempts *int    `name:"s3-max-attempts" env:"QBACKUP_S3_MAX_ATTEMPTS" help:"Attempts per S3 request (default: the installation's, else 5)."`
	// ReadFrom is where the backups are read (see readBackups); "" is
	// auto.
	ReadFrom string `name:"read-from" enum:"auto,summaries,storage" default:"auto" help:"Where backups are read: summaries (the ConfigMaps the Jobs record; kubectl access alone), storage (the manifests; needs the storage credentials in the environment), or auto: the summaries when the namespace has them and --storage is not given, else storage."`
}

// Validate checks the flags that were given before anything is
// contacted. The base stands in, with valid values, for what the
// installation will supply: only a given value can fail here.
func (f storeFlags) Validate() error {
	return f.source(config.Source{Cluster: "default", Storage: "s3://placeholder/qbackup", S3MaxAttempts: 5}).ValidateAs("--qdrant-cluster")
}

// source lays the flags that were given over base.
func (f storeFlags) source(base config.Source) config.Source {
	s := base
	if f.QdrantCluster != nil {
		s.Cluster = *f.QdrantCluster
	}
	if f.Storage != nil {
		s.Storage = *f.Storage
	}
	if f.S3Endpoint != nil {
		s.S3Endpoint = *f.S3Endpoint
	}
	if f.S3Region != nil {
		s.S3Region = *f.S3Region
	}
	if f.S3PathStyle != nil {
		s.S3PathStyle = *f.S3PathStyle
	}
	if f.S3MaxAttempts != nil {
		s.S3MaxAttempts = *f.S3MaxAttempts
	}
	return s
}

// resolve returns where the backups are. With --storage (or
// QBACKUP_STORAGE) given, the flags alone say it and the installation is
// not read: a store can be read from anywhere. Without it, the settings
// are the installation's in namespace ns under the flags that were
// given, and a namespace with nothing installed is an error that says so;
// the installation read is returned too (nil with --storage).
//
// client connects to the API server; it is not called when the flags say
// everything.
func (f storeFlags) resolve(ctx context.Context, client func() (kubernetes.Interface, string, error)) (config.Source, *kube.Installed, error) {
	base := config.Source{Cluster: "default", S3Region: "us-east-1", S3MaxAttempts: 5}
	if f.Storage != nil {
		s := f.source(base)
		return s, nil, s.ValidateAs("--qdrant-cluster")
	}
	cs, ns, err := client()
	if err != nil {
		return config.Source{}, nil, err
	}
	in, err := kube.ReadInstalled(ctx, cs, ns)
	if errors.Is(err, kube.ErrNotInstalled) {
		return config.Source{}, nil, config.Invalidf("%v: install it there (kubectl apply -k kustomize/overlays/<env>), name its namespace with -n, or say where the backups are with --storage", err)
	}
	if err != nil {
		return config.Source{}, nil, err
	}
	if base, err = installedSource(in, base); err != nil {
		return config.Source{}, nil, err
	}
	s := f.source(base)
	if s.Storage == "" {
		return config.Source{}, nil, config.Invalidf("%s sets no QBACKUP_STORAGE: set it there, or pass --storage", in.Source)
	}
	if err := s.ValidateAs("--qdrant-cluster"); err != nil {
		return config.Source{}, nil, fmt.Errorf("%w (settings from %s and the flags)", err, in.Source)
	}
	return s, in, nil
}

// installedSource reads the storage settings of an installation.
func installedSource(in *kube.Installed, base config.Source) (config.Source, error) {
	s := base
	v := in.Values
	for key, dst := range map[string]*string{
		"QBACKUP_CLUSTER": &s.Cluster, "QBACKUP_STORAGE": &s.Storage,
		"QBACKUP_S3_ENDPOINT": &s.S3Endpoint, "QBACKUP_S3_REGION": &s.S3Region,
	} {
		if x, ok := v[key]; ok {
			*dst = x
		}
	}
	if x, ok := v["QBACKUP_S3_PATH_STYLE"]; ok {
		b, err := strconv.ParseBool(x)
		if err != nil {
			return s, config.Invalidf("%s: QBACKUP_S3_PATH_STYLE=%q is not a boolean: set true or false", in.Source, x)
		}
		s.S3PathStyle = b
	}
	if x, ok := v["QBACKUP_S3_MAX_ATTEMPTS"]; ok {
		n, err := strconv.Atoi(x)
		if err != nil {
			return s, config.Invalidf("%s: QBACKUP_S3_MAX_ATTEMPTS=%q is not a number", in.Source, x)
		}
		s.S3MaxAttempts = n
	}
	return s, nil
}
