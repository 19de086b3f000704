#!/usr/bin/env bash
# shellcheck disable=SC2153 # upper-case ports and secrets come from the sourced state file
# The real test stack: etcd, kube-apiserver, kube-controller-manager, MinIO
# and a private MariaDB, all on 127.0.0.1, for qbackup's integration tests.
#
#   stack.sh up        build what is missing (cached), start what is not running
#   stack.sh down      stop what `up` started and remove the run directory
#   stack.sh status    exit 0 only if every service is up and answering
#   stack.sh env       print the env file (export lines for the tests)
#   stack.sh env-file  print the env file's path
#
# Binaries are built from source with the Go toolchain at pinned versions
# (tools modules under e2e/stack/tools/) and cached outside the repository:
#   QBACKUP_STACK_CACHE  default ${XDG_CACHE_HOME:-$HOME/.cache}/qbackup-stack
# Runtime state (pids, logs, data, certificates, env file) lives in:
#   QBACKUP_STACK_DIR    default /tmp/qbackup-stack-$UID
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
TOOLS="$HERE/tools"
CACHE="${QBACKUP_STACK_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/qbackup-stack}"
RUN="${QBACKUP_STACK_DIR:-/tmp/qbackup-stack-$UID}"
ENV_FILE="$RUN/env"

# Pinned versions. Each must match the require line of its tools module.
KUBE_VERSION=v1.34.2
ETCD_VERSION=v3.6.16
MINIO_VERSION=v0.0.0-20260212201848-7aac2a2c5b7c
PUSHGATEWAY_VERSION=v1.11.5

KUBE_BIN="$CACHE/kube-$KUBE_VERSION"
ETCD_BIN="$CACHE/etcd-$ETCD_VERSION"
MINIO_BIN="$CACHE/minio-$MINIO_VERSION"
PUSHGATEWAY_BIN="$CACHE/pushgateway-$PUSHGATEWAY_VERSION"

S3_REGION=us-east-1
S3_BUCKET=qbackup-test
SERVICE_CIDR=10.96.0.0/16
# Only the controllers the tests need: CronJobs create Jobs, Jobs create
# Pods, namespaces get their default ServiceAccount and root CA, deleted
# owners take their dependents with them. Canonical names (v1.34).
KCM_CONTROLLERS=cronjob-controller,job-controller,ttl-after-finished-controller
KCM_CONTROLLERS+=,serviceaccount-controller,serviceaccount-token-controller
KCM_CONTROLLERS+=,namespace-controller,garbage-collector-controller,root-ca-certificate-publisher-controller
KCM_CONTROLLERS+=,deployment-controller,replicaset-controller,statefulset-controller
# Started in this order, stopped in reverse.
SERVICES=(etcd kube-apiserver kube-controller-manager minio mariadb pushgateway)

log() { printf 'stack: %s\n' "$*" >&2; }
die() { log "$*"; exit 1; }

# fail_service NAME MESSAGE: report a service that did not build or start,
# with the tail of its log, and exit non-zero.
fail_service() {
	local name=$1 msg=$2 logf="$RUN/logs/$1.log"
	log "$name: $msg"
	if [[ -s $logf ]]; then
		log "$name: last lines of $logf:"
		tail -n 30 "$logf" | sed "s/^/  [$name] /" >&2
	fi
	exit 1
}

# --- building --------------------------------------------------------------

# stamp_of DIR: what a cached build was made from. A changed tools module
# (version bump, go.sum) invalidates the cache; a new Go toolchain does not.
stamp_of() {
	local mod=$1 version=$2
	printf '%s %s\n' "$version" "$(cat "$TOOLS/$mod/go.mod" "$TOOLS/$mod/go.sum" | sha256sum | cut -c1-16)"
}

# build NAME MODULE VERSION DEST PKG... : go build PKGs of the tools module
# into DEST unless DEST's stamp matches. The output goes to a temporary
# directory first, so an interrupted build never looks complete.
build() {
	local name=$1 mod=$2 version=$3 dest=$4
	shift 4
	local want
	want="$(stamp_of "$mod" "$version")"
	if [[ -f $dest/.stamp && "$(cat "$dest/.stamp")" == "$want" ]]; then
		return 0
	fi
	command -v go >/dev/null || die "go is required to build $name"
	mkdir -p "$CACHE" "$RUN/logs"
	local tmp="$dest.tmp.$$" logf="$RUN/logs/$name.log" start=$SECONDS
	rm -rf "$tmp" && mkdir -p "$tmp"
	log "building $name $version (cached in $dest; log $logf)"
	# -o DIR with several packages builds them in one invocation, so the
	# packages they share are compiled once.
	# A single package is written as NAME: go would name etcd's main
	# package (.../server/v3) "server".
	local out="$tmp/"
	(($# == 1)) && out="$tmp/$name"
	if ! (cd "$TOOLS/$mod" && GOWORK=off GOFLAGS="-mod=readonly -buildvcs=false" \
		go build -trimpath -ldflags "-s -w" -o "$out" "$@") >"$logf" 2>&1; then
		rm -rf "$tmp"
		fail_service "$name" "build failed"
	fi
	echo "$want" >"$tmp/.stamp"
	rm -rf "$dest" && mv "$tmp" "$dest"
	log "built $name in $((SECONDS - start))s"
}

build_all() {
	# One lock for the cache: two concurrent `up`s must not build into the
	# same directory.
	mkdir -p "$CACHE"
	exec 8>"$CACHE/.lock"
	flock 8
	build etcd etcd "$ETCD_VERSION" "$ETCD_BIN" go.etcd.io/etcd/server/v3
	build minio minio "$MINIO_VERSION" "$MINIO_BIN" github.com/minio/minio
	build pushgateway pushgateway "$PUSHGATEWAY_VERSION" "$PUSHGATEWAY_BIN" github.com/prometheus/pushgateway
	build kube kube "$KUBE_VERSION" "$KUBE_BIN" \
		k8s.io/kubernetes/cmd/kube-apiserver \
		k8s.io/kubernetes/cmd/kube-controller-manager \
		k8s.io/kubernetes/cmd/kubectl
	flock -u 8
	exec 8>&-
}

ensure_mariadb() {
	if command -v mariadbd >/dev/null && command -v mariadb-install-db >/dev/null; then
		return 0
	fi
	log "installing mariadb-server with apt-get"
	local sudo=""
	[[ $EUID -eq 0 ]] || sudo="sudo"
	# Debian starts a package's service on install unless policy-rc.d says
	# no; the stack runs its own instance and must not start the system one.
	local policy=/usr/sbin/policy-rc.d created_policy=0
	if [[ ! -e $policy ]]; then
		printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null
		$sudo chmod +x "$policy"
		created_policy=1
	fi
	local rc=0
	{ $sudo apt-get update -q && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -q \
		--no-install-recommends mariadb-server mariadb-client; } >"$RUN/logs/mariadb-install.log" 2>&1 || rc=$?
	[[ $created_policy == 1 ]] && $sudo rm -f "$policy"
	if [[ $rc != 0 ]]; then
		cp "$RUN/logs/mariadb-install.log" "$RUN/logs/mariadb.log"
		fail_service mariadb "apt-get install mariadb-server failed"
	fi
}

# --- process handling --------------------------------------------------------

pidfile() { echo "$RUN/pids/$1.pid"; }

# pid_of NAME: the recorded pid if that process is alive and is ours (its
# command line names the run directory, which guards against pid reuse).
pid_of() {
	local f pid
	f="$(pidfile "$1")"
	[[ -f $f ]] || return 1
	pid="$(cat "$f")"
	[[ $pid =~ ^[0-9]+$ ]] || return 1
	[[ -r /proc/$pid/cmdline ]] || return 1
	tr '\0' ' ' </proc/"$pid"/cmdline | grep -qF -- "$RUN/" || return 1
	echo "$pid"
}

running() { pid_of "$1" >/dev/null; }

# launch NAME CMD...: start CMD detached (own session, so a Ctrl-C in the
# terminal that ran `up` does not reach it), logging to logs/NAME.log.
launch() {
	local name=$1
	shift
	log "starting $name"
	# The lock descriptors are closed: a service must not hold the stack's
	# locks for its whole life.
	setsid "$@" >>"$RUN/logs/$name.log" 2>&1 </dev/null 8>&- 9>&- &
	# Not a job-control shell, so the background child is no process group
	# leader and setsid execs in place: $! is the service's own pid.
	local pid=$! i
	echo "$pid" >"$(pidfile "$name")"
	# Until setsid has exec'd the service, /proc shows this script's own
	# command line, which pid_of does not recognise: a readiness check in
	# that window would report a healthy start as an exit. Wait for the
	# exec (or the exit) first.
	for ((i = 0; i < 100; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		tr '\0' ' ' </proc/"$pid"/cmdline 2>/dev/null | grep -qF -- "$RUN/" && return 0
		sleep 0.05
	done
}

# wait_ready NAME TIMEOUT CHECK...: poll CHECK until it succeeds; fail with
# the log tail if the process dies or the timeout passes.
wait_ready() {
	local name=$1 timeout=$2
	shift 2
	local deadline=$((SECONDS + timeout))
	while ! "$@" >/dev/null 2>&1; do
		running "$name" || fail_service "$name" "exited during start-up"
		((SECONDS < deadline)) || fail_service "$name" "not ready after ${timeout}s"
		sleep 0.5
	done
	log "$name ready"
}

stop_pid() {
	local name=$1 pid=$2 i
	kill -TERM "$pid" 2>/dev/null || return 0
	for ((i = 0; i < 150; i++)); do
		kill -0 "$pid" 2>/dev/null || { log "stopped $name ($pid)"; return 0; }
		sleep 0.1
	done
	log "$name ($pid) did not stop after 15s: killing"
	kill -KILL "$pid" 2>/dev/null || true
	for ((i = 0; i < 50; i++)); do
		kill -0 "$pid" 2>/dev/null || return 0
		sleep 0.1
	done
	log "$name ($pid) still alive after SIGKILL"
	return 1
}

# --- ports and secrets -------------------------------------------------------

port_in_use() { ss -Htln "sport = :$1" | grep -q .; }

# free_port picks a port below the kernel's ephemeral range: a cold stack
# build takes many minutes between choosing the ports and starting the
# last service, and a port in the ephemeral range can meanwhile be taken
# by any outgoing connection (module downloads, tests), which made MinIO
# fail with "port already in use".
free_port() {
	local p i lo hi
	read -r lo _ </proc/sys/net/ipv4/ip_local_port_range 2>/dev/null || lo=32768
	hi=$((lo > 21024 ? lo : 32768))
	for ((i = 0; i < 200; i++)); do
		p=$((20000 + RANDOM % (hi - 20000)))
		port_in_use "$p" && continue
		[[ " ${TAKEN_PORTS:-} " == *" $p "* ]] && continue
		TAKEN_PORTS="${TAKEN_PORTS:-} $p"
		echo "$p"
		return 0
	done
	die "no free port found"
}

secret() { openssl rand -hex 16; }

# init_state creates, once per run directory, the ports, credentials,
# certificates and configuration that every later `up` reuses, so a
# restarted service comes back at the same address.
init_state() {
	mkdir -p "$RUN"/{pids,logs,pki,data} && chmod 700 "$RUN"
	[[ -f $RUN/state ]] && return 0
	log "initialising $RUN"
	TAKEN_PORTS=""
	local etcd_port etcd_peer_port apiserver_port kcm_port minio_port minio_console_port mysql_port
	etcd_port=$(free_port)
	etcd_peer_port=$(free_port)
	apiserver_port=$(free_port)
	kcm_port=$(free_port)
	minio_port=$(free_port)
	minio_console_port=$(free_port)
	mysql_port=$(free_port)
	cat >"$RUN/state.tmp" <<-EOF
		ETCD_PORT=$etcd_port
		ETCD_PEER_PORT=$etcd_peer_port
		APISERVER_PORT=$apiserver_port
		KCM_PORT=$kcm_port
		MINIO_PORT=$minio_port
		MINIO_CONSOLE_PORT=$minio_console_port
		MYSQL_PORT=$mysql_port
		ADMIN_TOKEN=$(secret)
		KCM_TOKEN=$(secret)
		S3_ACCESS_KEY=qbackup$(openssl rand -hex 6)
		S3_SECRET_KEY=$(secret)
		MYSQL_ROOT_PASSWORD=$(secret)
		MYSQL_PASSWORD=$(secret)
		MYSQL_ADMIN_PASSWORD=$(secret)
	EOF
	# shellcheck source=/dev/null
	source "$RUN/state.tmp"
	gen_pki >"$RUN/logs/pki.log" 2>&1 || { cat "$RUN/logs/pki.log" >&2; die "generating certificates failed"; }
	write_kube_config
	mv "$RUN/state.tmp" "$RUN/state"
}

# gen_pki writes the CA, the API server's serving certificate and the
# service-account key pair. Each step returns on failure: errexit does not
# apply inside a function called in a `||` list.
gen_pki() {
	local d="$RUN/pki"
	openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=qbackup-stack-ca" \
		-keyout "$d/ca.key" -out "$d/ca.crt" || return 1
	openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" \
		-keyout "$d/apiserver.key" -out "$d/apiserver.csr" || return 1
	# The in-cluster names and the service IP are there so that clients
	# configured like a pod (KUBERNETES_SERVICE_HOST, kubernetes.default.svc)
	# can verify the certificate too.
	cat >"$d/apiserver.ext" <<-EOF || return 1
		basicConstraints=CA:FALSE
		keyUsage=digitalSignature,keyEncipherment
		extendedKeyUsage=serverAuth
		subjectAltName=IP:127.0.0.1,IP:10.96.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local
	EOF
	openssl x509 -req -days 3650 -in "$d/apiserver.csr" -CA "$d/ca.crt" -CAkey "$d/ca.key" \
		-CAcreateserial -extfile "$d/apiserver.ext" -out "$d/apiserver.crt" || return 1
	openssl genrsa -out "$d/sa.key" 2048 || return 1
	openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" || return 1
	chmod 600 "$d"/*.key
}

write_kube_config() {
	# Static tokens: the admin is in system:masters; the controller-manager
	# authenticates as itself and, with --use-service-account-credentials,
	# runs each controller as its own service account, as in a real cluster.
	cat >"$RUN/pki/tokens.csv" <<-EOF
		$ADMIN_TOKEN,qbackup-admin,qbackup-admin,"system:masters"
		$KCM_TOKEN,system:kube-controller-manager,system:kube-controller-manager
	EOF
	chmod 600 "$RUN/pki/tokens.csv"
	kubeconfig "$RUN/admin.kubeconfig" qbackup-admin "$ADMIN_TOKEN"
	kubeconfig "$RUN/kcm.kubeconfig" kube-controller-manager "$KCM_TOKEN"
}

kubeconfig() {
	local file=$1 user=$2 token=$3
	cat >"$file" <<-EOF
		apiVersion: v1
		kind: Config
		clusters:
		- name: qbackup-stack
		  cluster:
		    server: https://127.0.0.1:$APISERVER_PORT
		    certificate-authority: $RUN/pki/ca.crt
		users:
		- name: $user
		  user:
		    token: $token
		contexts:
		- name: qbackup-stack
		  context:
		    cluster: qbackup-stack
		    user: $user
		    namespace: default
		current-context: qbackup-stack
	EOF
	chmod 600 "$file"
}

load_state() {
	[[ -f $RUN/state ]] || return 1
	# shellcheck source=/dev/null
	source "$RUN/state"
	# A service added to the stack after this run directory was made gets
	# its port now.
	if [[ -z ${PUSHGATEWAY_PORT:-} ]]; then
		TAKEN_PORTS="$ETCD_PORT $ETCD_PEER_PORT $APISERVER_PORT $KCM_PORT $MINIO_PORT $MINIO_CONSOLE_PORT $MYSQL_PORT"
		PUSHGATEWAY_PORT=$(free_port)
		echo "PUSHGATEWAY_PORT=$PUSHGATEWAY_PORT" >>"$RUN/state"
	fi
}

write_env_file() {
	cat >"$ENV_FILE.tmp" <<-EOF
		# qbackup test stack ($RUN); source this file.
		export QBACKUP_TEST_STACK=1
		export KUBECONFIG=$RUN/admin.kubeconfig
		export QBACKUP_TEST_KUBE_CA=$RUN/pki/ca.crt
		export QBACKUP_TEST_S3_ENDPOINT=http://127.0.0.1:$MINIO_PORT
		export QBACKUP_TEST_S3_REGION=$S3_REGION
		export QBACKUP_TEST_S3_BUCKET=$S3_BUCKET
		export QBACKUP_TEST_S3_ACCESS_KEY=$S3_ACCESS_KEY
		export QBACKUP_TEST_S3_SECRET_KEY=$S3_SECRET_KEY
		export QBACKUP_TEST_MYSQL_DSN='qbackup:$MYSQL_PASSWORD@tcp(127.0.0.1:$MYSQL_PORT)/qbackup?parseTime=true'
		export QBACKUP_TEST_MYSQL_ADMIN_DSN='qbackup_admin:$MYSQL_ADMIN_PASSWORD@tcp(127.0.0.1:$MYSQL_PORT)/'
		export QBACKUP_TEST_PUSHGATEWAY=http://127.0.0.1:$PUSHGATEWAY_PORT
		export PATH=$KUBE_BIN:\$PATH
	EOF
	mv "$ENV_FILE.tmp" "$ENV_FILE"
}

# --- health checks -------------------------------------------------------------

# Responses are compared whole rather than piped into grep -q, which may
# exit before curl has written everything and fail the pipeline.
check_etcd() { [[ "$(curl -fsS -m 3 "http://127.0.0.1:$ETCD_PORT/health")" == *'"health":"true"'* ]]; }
check_kube-apiserver() {
	[[ "$(curl -fsS -m 5 --cacert "$RUN/pki/ca.crt" -H "Authorization: Bearer $ADMIN_TOKEN" \
		"https://127.0.0.1:$APISERVER_PORT/readyz")" == ok ]]
}
# /healthz is served without authentication (an always-allowed path).
check_kube-controller-manager() { [[ "$(curl -fsS -m 3 -k "https://127.0.0.1:$KCM_PORT/healthz")" == ok ]]; }
check_minio() { curl -fsS -m 3 "http://127.0.0.1:$MINIO_PORT/minio/health/ready"; }
check_mariadb() { mariadb-admin --defaults-file="$RUN/mariadb-client.cnf" ping; }
check_pushgateway() { [[ "$(curl -fsS -m 3 "http://127.0.0.1:$PUSHGATEWAY_PORT/-/ready")" == *OK* ]]; }
check() { "check_$1"; }

# --- services ------------------------------------------------------------------

start_etcd() {
	mkdir -p "$RUN/data/etcd" && chmod 700 "$RUN/data/etcd"
	# --unsafe-no-fsync: test data, durability across power loss is moot
	# and fsync on a shared disk makes every API write slow.
	launch etcd "$ETCD_BIN/etcd" --name stack --data-dir "$RUN/data/etcd" \
		--listen-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--advertise-client-urls "http://127.0.0.1:$ETCD_PORT" \
		--listen-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-advertise-peer-urls "http://127.0.0.1:$ETCD_PEER_PORT" \
		--initial-cluster "stack=http://127.0.0.1:$ETCD_PEER_PORT" \
		--unsafe-no-fsync --log-level warn
	wait_ready etcd 60 check_etcd
}

start_kube-apiserver() {
	launch kube-apiserver "$KUBE_BIN/kube-apiserver" \
		--bind-address 127.0.0.1 --advertise-address 127.0.0.1 \
		--secure-port "$APISERVER_PORT" \
		--etcd-servers "http://127.0.0.1:$ETCD_PORT" \
		--cert-dir "$RUN/pki" \
		--tls-cert-file "$RUN/pki/apiserver.crt" --tls-private-key-file "$RUN/pki/apiserver.key" \
		--client-ca-file "$RUN/pki/ca.crt" \
		--token-auth-file "$RUN/pki/tokens.csv" \
		--authorization-mode Node,RBAC \
		--service-account-issuer https://kubernetes.default.svc.cluster.local \
		--service-account-key-file "$RUN/pki/sa.pub" \
		--service-account-signing-key-file "$RUN/pki/sa.key" \
		--service-cluster-ip-range "$SERVICE_CIDR" \
		--allow-privileged \
		--profiling=false
	wait_ready kube-apiserver 180 check_kube-apiserver
}

start_kube-controller-manager() {
	launch kube-controller-manager "$KUBE_BIN/kube-controller-manager" \
		--kubeconfig "$RUN/kcm.kubeconfig" \
		--bind-address 127.0.0.1 --secure-port "$KCM_PORT" \
		--cert-dir "$RUN/pki/kcm" \
		--controllers "$KCM_CONTROLLERS" \
		--service-account-private-key-file "$RUN/pki/sa.key" \
		--root-ca-file "$RUN/pki/ca.crt" \
		--use-service-account-credentials \
		--leader-elect=false \
		--profiling=false
	wait_ready kube-controller-manager 120 check_kube-controller-manager
	# The controllers really work once a namespace gets its default account.
	wait_ready kube-controller-manager 120 \
		"$KUBE_BIN/kubectl" --kubeconfig "$RUN/admin.kubeconfig" -n default get serviceaccount default
}

start_minio() {
	mkdir -p "$RUN/data/minio"
	# A static KMS key, so that SSE-S3 and SSE-KMS (--s3-sse) work: MinIO
	# refuses both without a KMS. Made once per run directory: the data
	# written under it needs the same key after a restart. (SSE-C needs
	# TLS as well; tests of it start a private MinIO, see stacktest.)
	if [[ ! -s $RUN/minio-kms.key ]]; then
		(umask 077 && head -c 32 /dev/urandom | base64 >"$RUN/minio-kms.key")
	fi
	launch minio env MINIO_ROOT_USER="$S3_ACCESS_KEY" MINIO_ROOT_PASSWORD="$S3_SECRET_KEY" \
		MINIO_KMS_SECRET_KEY="qbackup-stack-key:$(cat "$RUN/minio-kms.key")" \
		MINIO_SITE_REGION="$S3_REGION" MINIO_BROWSER=off MINIO_UPDATE=off \
		"$MINIO_BIN/minio" server --quiet \
		--address "127.0.0.1:$MINIO_PORT" --console-address "127.0.0.1:$MINIO_CONSOLE_PORT" \
		"$RUN/data/minio"
	wait_ready minio 90 check_minio
	# Create the bucket with a signed S3 request (curl signs SigV4 itself).
	local code
	code=$(curl -sS -o "$RUN/logs/minio-bucket.out" -w '%{http_code}' -X PUT \
		--aws-sigv4 "aws:amz:$S3_REGION:s3" --user "$S3_ACCESS_KEY:$S3_SECRET_KEY" \
		-H "x-amz-content-sha256: e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" \
		"http://127.0.0.1:$MINIO_PORT/$S3_BUCKET") || code=000
	case $code in
	200) log "minio: bucket $S3_BUCKET created" ;;
	409) ;; # exists already (restart)
	*)
		cat "$RUN/logs/minio-bucket.out" >>"$RUN/logs/minio.log"
		fail_service minio "creating bucket $S3_BUCKET failed (HTTP $code)"
		;;
	esac
}

start_mariadb() {
	local d="$RUN/data/mysql" fresh=0
	cat >"$RUN/mariadb-client.cnf" <<-EOF
		[client]
		socket=$RUN/mysqld.sock
		user=root
		password=$MYSQL_ROOT_PASSWORD
	EOF
	chmod 600 "$RUN/mariadb-client.cnf"
	if [[ ! -d $d/mysql ]]; then
		mkdir -p "$d"
		# A private datadir: the system's database and service are never used.
		if ! mariadb-install-db --no-defaults --datadir="$d" --user="$(id -un)" \
			--auth-root-authentication-method=normal --skip-test-db \
			>>"$RUN/logs/mariadb.log" 2>&1; then
			rm -rf "$d"
			fail_service mariadb "mariadb-install-db failed"
		fi
		fresh=1
	fi
	launch mariadb "$(command -v mariadbd)" --no-defaults --datadir="$d" --user="$(id -un)" \
		--bind-address=127.0.0.1 --port="$MYSQL_PORT" \
		--socket="$RUN/mysqld.sock" --pid-file="$RUN/mysqld.pid" \
		--log-error="$RUN/logs/mariadb.log" --skip-name-resolve \
		--innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=2 \
		--character-set-server=utf8mb4 --collation-server=utf8mb4_bin
	if [[ $fresh == 1 ]]; then
		# root has no password yet: ping as root without the client file.
		wait_ready mariadb 90 mariadb-admin --no-defaults --socket="$RUN/mysqld.sock" -uroot ping
		local sql
		sql="CREATE DATABASE qbackup;
			CREATE USER 'qbackup'@'%' IDENTIFIED BY '$MYSQL_PASSWORD';
			GRANT ALL PRIVILEGES ON qbackup.* TO 'qbackup'@'%';
			CREATE USER 'qbackup_admin'@'%' IDENTIFIED BY '$MYSQL_ADMIN_PASSWORD';
			GRANT ALL PRIVILEGES ON *.* TO 'qbackup_admin'@'%' WITH GRANT OPTION;
			ALTER USER 'root'@'localhost' IDENTIFIED BY '$MYSQL_ROOT_PASSWORD';
			FLUSH PRIVILEGES;"
		if ! mariadb --no-defaults --socket="$RUN/mysqld.sock" -uroot <<<"$sql" >>"$RUN/logs/mariadb.log" 2>&1; then
			fail_service mariadb "creating the qbackup database and users failed"
		fi
	fi
	wait_ready mariadb 90 check_mariadb
}

# The Prometheus Pushgateway that runs push their metrics to at the end.
start_pushgateway() {
	# The persistence file puts the run directory on the command line,
	# which is how the stack recognises its own processes.
	launch pushgateway "$PUSHGATEWAY_BIN/pushgateway" --web.listen-address="127.0.0.1:$PUSHGATEWAY_PORT" \
		--persistence.file="$RUN/data/pushgateway.metrics" --log.level=warn
	wait_ready pushgateway 60 check_pushgateway
}

# --- commands ------------------------------------------------------------------

cmd_up() {
	mkdir -p "$RUN/logs"
	# Builds take the cache's own lock; the run directory's lock is held
	# only while services are checked and started.
	build_all
	ensure_mariadb
	exec 9>"$RUN/.lock"
	flock -w 300 9 || die "another stack.sh holds $RUN/.lock"
	init_state
	load_state
	write_env_file
	local s started=0 start=$SECONDS
	for s in "${SERVICES[@]}"; do
		if running "$s"; then
			# Already running: leave it alone, but make sure it answers.
			wait_ready "$s" 60 check "$s"
			continue
		fi
		"start_$s"
		started=$((started + 1))
	done
	if ((started == 0)); then
		log "already up: nothing started"
	else
		log "up in $((SECONDS - start))s; env file: $ENV_FILE"
	fi
}

cmd_down() {
	[[ -d $RUN ]] || { log "not running"; return 0; }
	exec 9>"$RUN/.lock"
	# Stopping must not depend on a lock that a wedged `up` may hold.
	flock -w 60 9 || log "$RUN/.lock is held; stopping anyway"
	local i s pid rc=0
	for ((i = ${#SERVICES[@]} - 1; i >= 0; i--)); do
		s=${SERVICES[i]}
		if pid="$(pid_of "$s")"; then
			stop_pid "$s" "$pid" || rc=1
		fi
	done
	# A service whose pid file was lost (an interrupted `up`) still runs a
	# binary of the stack with the run directory on its command line.
	local exe
	for pid in $(pgrep -f -- "$RUN/" || true); do
		exe="$(readlink "/proc/$pid/exe" 2>/dev/null)" || continue
		[[ $exe == "$CACHE/"* || $exe == */mariadbd ]] || continue
		stop_pid "stray $(basename "$exe")" "$pid" || rc=1
	done
	((rc == 0)) || die "some processes did not stop; run directory kept: $RUN"
	rm -rf "$RUN"
	log "down"
}

cmd_status() {
	load_state 2>/dev/null || { log "not up (no $RUN/state)"; return 1; }
	local s rc=0
	for s in "${SERVICES[@]}"; do
		if ! running "$s"; then
			printf '%-24s down\n' "$s"
			rc=1
		elif ! check "$s" >/dev/null 2>&1; then
			printf '%-24s not answering (pid %s)\n' "$s" "$(pid_of "$s")"
			rc=1
		else
			printf '%-24s up (pid %s)\n' "$s" "$(pid_of "$s")"
		fi
	done
	return $rc
}

cmd_env_file() {
	[[ -f $ENV_FILE ]] || die "no env file at $ENV_FILE: the stack is not up (run: make stack-up)"
	echo "$ENV_FILE"
}

case "${1:-}" in
up) cmd_up ;;
down) cmd_down ;;
status) cmd_status ;;
env) cat "$(cmd_env_file)" ;;
env-file) cmd_env_file ;;
*)
	# Usage: the header comment.
	awk 'NR > 2 && /^#/ { sub(/^# ?/, ""); print; next } NR > 2 { exit }' "$0" >&2
	exit 2
	;;
esac
