#!/usr/bin/env bash
# Start a local PostgreSQL for the test suite and print its URL (the only thing on stdout).
#
#   export RECFORGE_TEST_POSTGRES="$(bash .ci/postgres.sh)"
#
# Idempotent: installs the Debian server only when pg_ctlcluster is missing, creates and starts
# the cluster only when needed, creates role `recforge` (password `recforge`) and database
# `recforge_test` only when missing. Progress goes to stderr.
set -euo pipefail

ROLE=recforge
PASSWORD=recforge
DATABASE=recforge_test
HOST=127.0.0.1
PORT=5432
CLUSTER=main

log() { echo "postgres.sh: $*" >&2; }

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

as_postgres() {
    if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else sudo -u postgres "$@"; fi
}

psql_admin() {
    # Run one SQL command as the postgres superuser; prints the tuples only.
    as_postgres psql --no-psqlrc -v ON_ERROR_STOP=1 -p "$PORT" -tAc "$1"
}

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    log "installing postgresql with apt-get"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >&2
fi

# The cluster version: an existing `main` cluster's, else the newest server installed.
VERSION="$(pg_lsclusters -h | awk -v c="$CLUSTER" '$2 == c { print $1; exit }')"
if [ -z "$VERSION" ]; then
    VERSION="$(ls /usr/lib/postgresql | sort -n | tail -n 1)"
    log "creating cluster $VERSION/$CLUSTER"
    as_root pg_createcluster "$VERSION" "$CLUSTER" --port "$PORT" >&2
fi

STATUS="$(pg_lsclusters -h | awk -v v="$VERSION" -v c="$CLUSTER" '$1 == v && $2 == c { print $4 }')"
if [ "$STATUS" != "online" ]; then
    log "starting cluster $VERSION/$CLUSTER"
    as_root pg_ctlcluster "$VERSION" "$CLUSTER" start >&2
fi

for _ in $(seq 1 60); do
    if pg_isready -q -h "$HOST" -p "$PORT"; then break; fi
    sleep 0.5
done
if ! pg_isready -q -h "$HOST" -p "$PORT"; then
    log "server on $HOST:$PORT did not become ready"
    exit 1
fi

if [ -z "$(psql_admin "SELECT 1 FROM pg_roles WHERE rolname = '$ROLE'")" ]; then
    log "creating role $ROLE"
    psql_admin "CREATE ROLE $ROLE LOGIN PASSWORD '$PASSWORD'" >&2
fi
if [ -z "$(psql_admin "SELECT 1 FROM pg_database WHERE datname = '$DATABASE'")" ]; then
    log "creating database $DATABASE"
    psql_admin "CREATE DATABASE $DATABASE OWNER $ROLE" >&2
fi

log "ready"
echo "postgresql://$ROLE:$PASSWORD@$HOST:$PORT/$DATABASE"
