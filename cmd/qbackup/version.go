package main

import (
	"context"
	"fmt"
	"runtime"
)

type versionCmd struct{}

func (versionCmd) Run(_ context.Context, env *runEnv) error {
	_, err := fmt.Fprintf(env.stdout, "qbackup %s (%s)\n", version, runtime.Version())
	return err
}
