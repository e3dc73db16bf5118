#!/usr/bin/env bash
# Local infrastructure without Docker: a single-node Apache Kafka broker in KRaft mode and an
# Apicurio schema registry (Confluent-compatible API), both plain `java` processes built from
# Maven Central artifacts that Maven resolves into a git-ignored cache.
#
#   kafka.sh up            start both (idempotent), wait until they answer, print the environment
#   kafka.sh up --secure   the same, and the broker also listens with SASL_SSL, SSL (mutual TLS) and
#                          SASL_PLAINTEXT beside PLAINTEXT, and a second registry serves HTTPS with
#                          basic authentication (sticky: later starts of this state dir keep both)
#   kafka.sh down          stop exactly the processes `up` started (data is kept)
#   kafka.sh status        say what runs
#   kafka.sh reset         down, then delete the broker's and registry's data
#   kafka.sh broker-stop   stop the broker only (chaos tests restart it mid-batch)
#   kafka.sh broker-start  start the broker only
#
# Kafka 4.x is the default (SLUICE_KAFKA_VERSION=3.9.2 selects the last 3.x line). Kafka 4.0 removed
# protocol versions older than those of Kafka 2.1 (KIP-896); every request kafkajs 2.2.4 sends is newer
# than that floor, and the e2e suite passes against both lines (README: "Which Kafka").
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
KAFKA_VERSION=${SLUICE_KAFKA_VERSION:-4.4.0}
KAFKA_MAJOR=${KAFKA_VERSION%%.*}
SLF4J_VERSION=1.7.36
APICURIO_VERSION=${SLUICE_APICURIO_VERSION:-3.0.9}
# Resolved jars live outside the clone, keyed by version, so a fresh clone on the same machine
# (CI) reuses them and a new machine resolves them once.
CACHE=${SLUICE_INFRA_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/infra}
STATE=${SLUICE_INFRA_DIR:-$ROOT/.infra}
HOST=127.0.0.1
KAFKA_PORT=${KAFKA_PORT:-9092}
CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-9093}
REGISTRY_PORT=${REGISTRY_PORT:-8081}
# The secured listeners (`up --secure`), next to the plain one.
SASL_SSL_PORT=${KAFKA_SASL_SSL_PORT:-$((KAFKA_PORT + 2))}
SSL_PORT=${KAFKA_SSL_PORT:-$((KAFKA_PORT + 3))}
SASL_PLAINTEXT_PORT=${KAFKA_SASL_PLAINTEXT_PORT:-$((KAFKA_PORT + 4))}
KAFKA_HEAP=${SLUICE_KAFKA_HEAP:--Xms256m -Xmx768m}
REGISTRY_HEAP=${SLUICE_REGISTRY_HEAP:--Xms64m -Xmx384m}

KAFKA_LIBS=$CACHE/kafka-$KAFKA_VERSION/libs
REGISTRY_HOME=$CACHE/apicurio-registry-$APICURIO_VERSION
KAFKA_STATE=$STATE/kafka
REGISTRY_STATE=$STATE/registry
# Certificates, keys and SASL passwords of the secured listeners; its presence turns them on.
SECURE=$STATE/secure
BROKERS=$HOST:$KAFKA_PORT
REGISTRY_URL=http://$HOST:$REGISTRY_PORT/apis/ccompat/v7
# With `up --secure`, a second registry: HTTPS only, basic authentication.
REGISTRY_SECURE_PORT=${REGISTRY_SECURE_PORT:-$((REGISTRY_PORT + 2))}
REGISTRY_SECURE_URL=https://$HOST:$REGISTRY_SECURE_PORT/apis/ccompat/v7

log() { printf '[kafka.sh] %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

need() {
  command -v "$1" >/dev/null 2>&1 || die "$1 is required ($2)"
}

# ---------------------------------------------------------------------------------------------
# Artifacts

maven() {
  need mvn "Maven 3 with Java 17 resolves the Kafka and Apicurio artifacts from Maven Central"
  # Maven prints to stdout; keep stdout for the environment lines `up` prints.
  mvn -B -q -Dstyle.color=never -Dmaven.repo.local="$CACHE/m2" "$@" >&2
}

resolve_kafka() {
  [ -f "$KAFKA_LIBS/.complete" ] && return
  log "resolving org.apache.kafka:kafka_2.13:$KAFKA_VERSION and a logging backend from Maven Central"
  mkdir -p "$CACHE"
  local pom=$CACHE/kafka-$KAFKA_VERSION.pom.xml
  cat >"$pom" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.sluice.infra</groupId>
  <artifactId>kafka-broker</artifactId>
  <version>$KAFKA_VERSION</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_2.13</artifactId>
      <version>$KAFKA_VERSION</version>
    </dependency>
    <!-- Kafka's POM brings slf4j-api only; the broker also calls log4j 1.x directly. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  rm -rf "$KAFKA_LIBS"
  maven -f "$pom" dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$KAFKA_LIBS"
  touch "$KAFKA_LIBS/.complete"
}

resolve_registry() {
  [ -f "$REGISTRY_HOME/.complete" ] && return
  log "resolving io.apicurio:apicurio-registry-app:$APICURIO_VERSION (classifier all) from Maven Central"
  mkdir -p "$CACHE"
  local pom=$CACHE/apicurio-$APICURIO_VERSION.pom.xml
  cat >"$pom" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.sluice.infra</groupId>
  <artifactId>schema-registry</artifactId>
  <version>$APICURIO_VERSION</version>
  <packaging>pom</packaging>
</project>
EOF
  rm -rf "$REGISTRY_HOME"
  maven -f "$pom" dependency:unpack \
    -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
    -DoutputDirectory="$REGISTRY_HOME"
  rm -rf "$REGISTRY_HOME"/PaxHeaders*
  [ -f "$REGISTRY_HOME/apicurio-registry-app-$APICURIO_VERSION-runner.jar" ] ||
    die "the Apicurio archive did not contain apicurio-registry-app-$APICURIO_VERSION-runner.jar"
  touch "$REGISTRY_HOME/.complete"
}

# ---------------------------------------------------------------------------------------------
# The secured listeners: a throw-away CA, a broker certificate for 127.0.0.1 and localhost, a client
# certificate for mutual TLS, a second CA that signed nothing here (for "untrusted CA" tests), and
# the SASL user's password. All of it lives in the git-ignored state dir and is made once.

SASL_USER=sluice

make_secure_material() {
  [ -f "$SECURE/.complete" ] && return
  need openssl "openssl makes the test CA and the broker and client certificates"
  log "making a test CA, broker and client certificates and SASL credentials in $SECURE"
  rm -rf "$SECURE"
  mkdir -p "$SECURE"
  chmod 700 "$SECURE"
  (
    cd "$SECURE"
    openssl req -batch -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Sluice test CA" \
      -keyout ca.key -out ca.pem 2>/dev/null
    openssl req -batch -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=Untrusted test CA" \
      -keyout untrusted-ca.key -out untrusted-ca.pem 2>/dev/null
    sign() { # name, subject, extensions
      openssl req -batch -newkey rsa:2048 -nodes -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
      printf '%s\n' "$3" >"$1.ext"
      openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 825 \
        -extfile "$1.ext" -out "$1.pem" 2>/dev/null
      rm -f "$1.csr" "$1.ext"
    }
    sign broker "/CN=localhost" "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
    sign client "/CN=$SASL_USER" "extendedKeyUsage=clientAuth"
    # Kafka's PEM key store: the private key (PKCS#8, unencrypted) followed by the certificate.
    cat broker.key broker.pem >broker-keystore.pem
    printf '%s' "$SASL_USER" >sasl-username
    openssl rand -hex 16 | tr -d '\n' >sasl-password
    local registry_password
    registry_password=$(openssl rand -hex 16)
    printf '%s' "registry-user:$registry_password" >registry-user-info
    cat >registry.properties <<EOF
quarkus.http.ssl.certificate.files=$SECURE/broker.pem
quarkus.http.ssl.certificate.key-files=$SECURE/broker.key
quarkus.http.insecure-requests=disabled
quarkus.http.auth.basic=true
quarkus.http.auth.permission.all.paths=/*
quarkus.http.auth.permission.all.policy=authenticated
quarkus.security.users.embedded.enabled=true
quarkus.security.users.embedded.plain-text=true
quarkus.security.users.embedded.users.registry-user=$registry_password
EOF
    chmod 600 ./*.key sasl-password broker-keystore.pem registry-user-info registry.properties
  )
  touch "$SECURE/.complete"
}

secure_enabled() { [ -f "$SECURE/.complete" ]; }

# One file per secured listener with the settings a Sluice process needs to use it.
write_secure_env() {
  cat >"$SECURE/sasl-ssl.env" <<EOF
export KAFKA_BROKERS=$HOST:$SASL_SSL_PORT
export KAFKA_SECURITY_PROTOCOL=SASL_SSL
export KAFKA_SASL_MECHANISM=SCRAM-SHA-512
export KAFKA_SASL_USERNAME=$SASL_USER
export KAFKA_SASL_PASSWORD_FILE=$SECURE/sasl-password
export KAFKA_SSL_CA_LOCATION=$SECURE/ca.pem
export SCHEMA_REGISTRY_URL=$REGISTRY_SECURE_URL
export SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO_FILE=$SECURE/registry-user-info
export SCHEMA_REGISTRY_SSL_CA_LOCATION=$SECURE/ca.pem
EOF
  cat >"$SECURE/mtls.env" <<EOF
export KAFKA_BROKERS=$HOST:$SSL_PORT
export KAFKA_SECURITY_PROTOCOL=SSL
export KAFKA_SSL_CA_LOCATION=$SECURE/ca.pem
export KAFKA_SSL_CERTIFICATE_LOCATION=$SECURE/client.pem
export KAFKA_SSL_KEY_LOCATION=$SECURE/client.key
export SCHEMA_REGISTRY_URL=$REGISTRY_SECURE_URL
export SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO_FILE=$SECURE/registry-user-info
export SCHEMA_REGISTRY_SSL_CA_LOCATION=$SECURE/ca.pem
EOF
  cat >"$SECURE/sasl-plaintext.env" <<EOF
export KAFKA_BROKERS=$HOST:$SASL_PLAINTEXT_PORT
export KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT
export KAFKA_SASL_MECHANISM=SCRAM-SHA-256
export KAFKA_SASL_USERNAME=$SASL_USER
export KAFKA_SASL_PASSWORD_FILE=$SECURE/sasl-password
EOF
}

secure_server_properties() {
  local password
  password=$(cat "$SECURE/sasl-password")
  cat <<EOF
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT,SASL_SSL://$HOST:$SASL_SSL_PORT,SSL://$HOST:$SSL_PORT,SASL_PLAINTEXT://$HOST:$SASL_PLAINTEXT_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT,SASL_SSL://$HOST:$SASL_SSL_PORT,SSL://$HOST:$SSL_PORT,SASL_PLAINTEXT://$HOST:$SASL_PLAINTEXT_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT
ssl.keystore.type=PEM
ssl.keystore.location=$SECURE/broker-keystore.pem
ssl.truststore.type=PEM
ssl.truststore.location=$SECURE/ca.pem
# Mutual TLS on the SSL listener: a client without a certificate signed by the test CA is refused.
listener.name.ssl.ssl.client.auth=required
sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$password";
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$password";
# OAUTHBEARER on SASL_PLAINTEXT, with Kafka's unsecured-token validator (tokens signed with "alg":
# "none"; for tests of the token-provider hook only, never for a real cluster).
listener.name.sasl_plaintext.sasl.enabled.mechanisms=SCRAM-SHA-512,SCRAM-SHA-256,PLAIN,OAUTHBEARER
listener.name.sasl_plaintext.oauthbearer.sasl.jaas.config=org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required unsecuredLoginStringClaim_sub="broker";
EOF
}

# ---------------------------------------------------------------------------------------------
# Processes: each is started with -Dsluice.infra=<state dir> so `down` can recognise its own.

pid_alive() {
  local name=$1 pidfile=$STATE/$1.pid pid
  [ -f "$pidfile" ] || return 1
  pid=$(cat "$pidfile")
  [ -n "$pid" ] && [ -r "/proc/$pid/cmdline" ] || return 1
  tr '\0' ' ' <"/proc/$pid/cmdline" | grep -q -- "-Dsluice.infra=$STATE -Dsluice.role=$name" || return 1
}

port_open() {
  (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null
}

http_ok() {
  if command -v curl >/dev/null 2>&1; then
    curl -sf -o /dev/null --max-time 2 "$1"
  else
    local rest=${1#http://} hostport path
    hostport=${rest%%/*} path=/${rest#*/}
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
    head -n1 <&3 | grep -q ' 200 '
  fi
}

start_kafka() {
  if pid_alive kafka; then
    log "kafka already running (pid $(cat "$STATE/kafka.pid"))"
    return
  fi
  local port ports=("KAFKA_PORT=$KAFKA_PORT" "KAFKA_CONTROLLER_PORT=$CONTROLLER_PORT")
  secure_enabled && ports+=("KAFKA_SASL_SSL_PORT=$SASL_SSL_PORT" "KAFKA_SSL_PORT=$SSL_PORT"
    "KAFKA_SASL_PLAINTEXT_PORT=$SASL_PLAINTEXT_PORT")
  for port in "${ports[@]}"; do
    if port_open "${port#*=}"; then
      die "port ${port#*=} is taken by a process this script did not start; stop it or set ${port%%=*}"
    fi
  done
  resolve_kafka
  mkdir -p "$KAFKA_STATE/data" "$KAFKA_STATE/logs"
  {
    cat <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@$HOST:$CONTROLLER_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
EOF
    if secure_enabled; then
      secure_server_properties
    else
      cat <<EOF
listeners=PLAINTEXT://$HOST:$KAFKA_PORT,CONTROLLER://$HOST:$CONTROLLER_PORT
advertised.listeners=PLAINTEXT://$HOST:$KAFKA_PORT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
EOF
    fi
    cat <<EOF
log.dirs=$KAFKA_STATE/data
num.partitions=1
default.replication.factor=1
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
num.network.threads=2
num.io.threads=4
log.retention.hours=168
log.segment.bytes=268435456
EOF
  } >"$KAFKA_STATE/server.properties"
  chmod 600 "$KAFKA_STATE/server.properties"
  cat >"$KAFKA_STATE/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$KAFKA_STATE/logs/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
log4j.logger.org.apache.kafka.controller=WARN
EOF
  # Kafka 4.x also carries log4j 2 (for its dynamic log-level MBean); give it a quiet configuration
  # so it does not complain, while the broker's own logging goes through slf4j-reload4j as on 3.x.
  echo 'rootLogger.level=WARN' >"$KAFKA_STATE/log4j2.properties"
  local java_opts=(-Dsluice.infra="$STATE" -Dsluice.role=kafka $KAFKA_HEAP
    -Dlog4j.configuration="file:$KAFKA_STATE/log4j.properties"
    -Dlog4j2.configurationFile="$KAFKA_STATE/log4j2.properties" -cp "$KAFKA_LIBS/*")
  if [ ! -f "$KAFKA_STATE/data/meta.properties" ]; then
    local cluster_id scram=()
    cluster_id=$(java "${java_opts[@]}" kafka.tools.StorageTool random-uuid)
    if secure_enabled; then
      # SCRAM credentials live in the cluster metadata; KRaft takes the first ones at format time.
      local password
      password=$(cat "$SECURE/sasl-password")
      scram=(--add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$password]"
        --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$password]")
    fi
    log "formatting KRaft storage (cluster $cluster_id)"
    java "${java_opts[@]}" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_STATE/server.properties" "${scram[@]}" >"$KAFKA_STATE/logs/format.out" 2>&1 ||
      { cat "$KAFKA_STATE/logs/format.out" >&2; die "StorageTool format failed"; }
    if secure_enabled; then touch "$KAFKA_STATE/data/.sluice-scram"; fi
  elif secure_enabled && [ ! -f "$KAFKA_STATE/data/.sluice-scram" ]; then
    die "the broker's storage in $KAFKA_STATE/data was formatted without the SASL users; run 'kafka.sh reset', then 'kafka.sh up --secure'"
  fi
  : >"$KAFKA_STATE/logs/server.log"
  log "starting kafka $KAFKA_VERSION on $BROKERS"
  nohup setsid java "${java_opts[@]}" kafka.Kafka "$KAFKA_STATE/server.properties" \
    >"$KAFKA_STATE/logs/stdout.log" 2>&1 </dev/null &
  echo $! >"$STATE/kafka.pid"
}

# Starts one Apicurio registry: `registry` (plain HTTP, open), or `registry-secure` (HTTPS only,
# with the test CA's certificate and HTTP basic authentication, Quarkus settings from a file).
start_registry() {
  local name=${1:-registry} port=$REGISTRY_PORT state=$REGISTRY_STATE port_var=REGISTRY_PORT
  local extra=()
  if [ "$name" = registry-secure ]; then
    port=$REGISTRY_SECURE_PORT state=$STATE/registry-secure port_var=REGISTRY_SECURE_PORT
    # The HTTP port is required by Quarkus but refuses requests; it takes the next port.
    extra=(-Dquarkus.http.port=$((REGISTRY_SECURE_PORT + 1)) -Dquarkus.http.ssl-port="$port"
      -Dquarkus.config.locations="$SECURE/registry.properties")
  else
    extra=(-Dquarkus.http.port="$port")
  fi
  if pid_alive "$name"; then
    log "$name already running (pid $(cat "$STATE/$name.pid"))"
    return
  fi
  if port_open "$port"; then
    die "port $port is taken by a process this script did not start; stop it or set $port_var"
  fi
  resolve_registry
  mkdir -p "$state/db" "$state/logs"
  log "starting apicurio registry $APICURIO_VERSION ($name) on port $port"
  # The registry keeps its schemas in an H2 file, so ids stay valid for messages in the broker
  # across restarts.
  (cd "$REGISTRY_HOME"
    nohup setsid java -Dsluice.infra="$STATE" -Dsluice.role="$name" $REGISTRY_HEAP \
    -XX:+UseSerialGC -XX:TieredStopAtLevel=1 \
    -Dquarkus.http.host=$HOST "${extra[@]}" \
    -Dquarkus.log.level=WARN -Dquarkus.http.access-log.enabled=false \
    -Dapicurio.datasource.url="jdbc:h2:file:$state/db/registry" \
    -jar "apicurio-registry-app-$APICURIO_VERSION-runner.jar" \
    >"$state/logs/stdout.log" 2>&1 </dev/null &
    echo $! >"$STATE/$name.pid")
}

wait_kafka() {
  local deadline=$((SECONDS + ${SLUICE_INFRA_TIMEOUT_S:-120}))
  until port_open "$KAFKA_PORT" && grep -q 'Kafka Server started' "$KAFKA_STATE/logs/server.log" 2>/dev/null; do
    pid_alive kafka || { tail -n 30 "$KAFKA_STATE/logs/stdout.log" "$KAFKA_STATE/logs/server.log" >&2 || true; die "kafka exited during start-up"; }
    [ $SECONDS -lt $deadline ] || die "kafka did not answer on $BROKERS in time (logs: $KAFKA_STATE/logs)"
    sleep 0.5
  done
}

wait_registry() {
  local name=${1:-registry} url=$REGISTRY_URL check=(http_ok "$REGISTRY_URL/subjects")
  local logs=$REGISTRY_STATE/logs
  if [ "$name" = registry-secure ]; then
    url=$REGISTRY_SECURE_URL logs=$STATE/registry-secure/logs
    need curl "curl checks the secured registry"
    check=(curl -sf -o /dev/null --max-time 2 --cacert "$SECURE/ca.pem"
      -u "$(cat "$SECURE/registry-user-info")" "$REGISTRY_SECURE_URL/subjects")
  fi
  local deadline=$((SECONDS + ${SLUICE_INFRA_TIMEOUT_S:-120}))
  until "${check[@]}"; do
    pid_alive "$name" || { tail -n 30 "$logs/stdout.log" >&2 || true; die "$name exited during start-up"; }
    [ $SECONDS -lt $deadline ] || die "$name did not answer on $url in time (logs: $logs)"
    sleep 0.5
  done
}

stop_one() {
  local name=$1 pid
  if ! pid_alive "$name"; then
    rm -f "$STATE/$name.pid"
    return
  fi
  pid=$(cat "$STATE/$name.pid")
  log "stopping $name (pid $pid)"
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.5
  done
  if kill -0 "$pid" 2>/dev/null; then
    log "$name did not stop in 30 s; killing it"
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$STATE/$name.pid"
}

print_env() {
  {
    echo "export KAFKA_BROKERS=$BROKERS"
    echo "export SCHEMA_REGISTRY_URL=$REGISTRY_URL"
    if secure_enabled; then
      write_secure_env
      # Where the secured-broker tests (and docs/managed-kafka.md) find each listener's settings.
      echo "export SLUICE_KAFKA_SECURE_DIR=$SECURE"
    fi
  } >"$STATE/env"
  cat "$STATE/env"
}

# ---------------------------------------------------------------------------------------------

need java "Java 17 runs the broker and the registry"
mkdir -p "$STATE"
case "${1:-}" in
  up)
    case "${2:-}" in
      --secure) make_secure_material ;;
      "") ;;
      *) die "unknown option ${2}; expected --secure" ;;
    esac
    start_kafka
    start_registry
    if secure_enabled; then start_registry registry-secure; fi
    wait_kafka
    wait_registry
    if secure_enabled; then wait_registry registry-secure; fi
    log "kafka and registry are up; use this environment:"
    print_env
    ;;
  down)
    stop_one registry-secure
    stop_one registry
    stop_one kafka
    ;;
  status)
    for name in kafka registry registry-secure; do
      if pid_alive "$name"; then echo "$name: running (pid $(cat "$STATE/$name.pid"))"; else echo "$name: stopped"; fi
    done
    if secure_enabled; then
      echo "secured listeners: SASL_SSL $HOST:$SASL_SSL_PORT, SSL (mutual TLS) $HOST:$SSL_PORT, SASL_PLAINTEXT $HOST:$SASL_PLAINTEXT_PORT; registry $REGISTRY_SECURE_URL"
    fi
    ;;
  reset)
    stop_one registry-secure
    stop_one registry
    stop_one kafka
    rm -rf "$KAFKA_STATE/data" "$REGISTRY_STATE/db" "$STATE/registry-secure/db"
    log "data deleted"
    ;;
  broker-stop)
    stop_one kafka
    ;;
  broker-start)
    start_kafka
    wait_kafka
    ;;
  *)
    echo "usage: $0 up [--secure]|down|status|reset|broker-stop|broker-start" >&2
    exit 2
    ;;
esac
