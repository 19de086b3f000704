// Package nodeagent is the scheduler and kubelet of the test stack: the
// stack runs a real kube-apiserver and kube-controller-manager (so the Job
// and CronJob controllers create Pods) but nothing that runs a Pod. An
// Agent registers a Ready Node, binds the Pending Pods of its namespaces to
// it through the binding subresource, and runs each container as a local
// process of the built binary its image names, reporting status the way a
// kubelet does:
//
//   - environment: the service variables KUBERNETES_SERVICE_HOST/PORT
//     (pointing at the stack's API server), then envFrom, then env with
//     valueFrom (ConfigMap, Secret, fieldRef) and $(VAR) expansion, also in
//     command and args. A missing non-optional ConfigMap, Secret or key
//     leaves the container Waiting with reason CreateContainerConfigError
//     and the kubelet's message; the agent retries, as a kubelet does.
//   - volumes: projected (serviceAccountToken through the TokenRequest API,
//     configMap, downwardAPI), secret, configMap and emptyDir volumes are
//     written to the agent's state directory and bind-mounted in a private
//     mount namespace per container, over a fresh tmpfs on /run, so the
//     ServiceAccount volume appears at /var/run/secrets/kubernetes.io/
//     serviceaccount without touching the host's /run. Mount paths outside
//     /run (and /var/run) are refused: the agent cannot create them without
//     changing the host's file system.
//   - identity: the Pod's or container's runAsUser/runAsGroup (else the
//     image's user), through setpriv; runAsNonRoot is enforced.
//   - lifecycle: phase (the kubelet's getPhase), conditions, container
//     states with exit code, reason and terminationMessage (File or
//     FallbackToLogsOnError: the last 80 lines, at most 2048 bytes, of a
//     failed container's output), the Pod's activeDeadlineSeconds
//     (DeadlineExceeded), and on deletion SIGTERM, the grace period,
//     SIGKILL, then the final delete.
//   - init containers run one at a time, in order, before the regular
//     containers (which wait PodInitializing); a failed one fails the Pod
//     under restartPolicy Never and is restarted otherwise.
//   - restarts as the kubelet's computePodActions decides them: Never
//     leaves an exited container as it is, OnFailure restarts a failed
//     one in place, Always any; the first restart is immediate, later
//     ones wait a back-off (10s doubling to 5m, Config.RestartBackOff)
//     reported as Waiting CrashLoopBackOff; restartCount and
//     lastTerminationState are reported (the Job controller counts an
//     OnFailure pod's restarts against backoffLimit), and the previous
//     instance's output is kept for `kubectl logs --previous`.
//   - output: each container's stdout and stderr are kept (Agent.Logs) and
//     served on the kubelet's /containerLogs endpoint, so `kubectl logs`
//     works through the API server.
//   - Qdrant: the Pods of a StatefulSet running a Qdrant image are mapped
//     to the peers of a simulated cluster (e2e/qdrantsim), one per
//     ordinal, with the peer's address as pod IP and Ready following the
//     peer's /readyz; scaling the StatefulSet joins or stops peers (see
//     QdrantConfig).
//
// What it does not do: sidecars (init containers with restartPolicy
// Always run as plain init containers), probes other than a Qdrant peer's
// readiness, resource limits, the
// image's file system (the process sees the host's, apart from /run) and
// token rotation (tokens are valid for an hour, like the kubelet's first).
package nodeagent
