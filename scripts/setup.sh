#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian machine: Python venv, redis-server, Prometheus, Chromium, FerretDB, JVM jars.
# Each step is skipped when its output is newer than its inputs, so a second `make setup` takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
VENV=$ROOT/.venv
step() { printf '\n==> %s\n' "$*"; }
newer() { [ -e "$1" ] && [ -z "$(find "${@:2}" -newer "$1" 2>/dev/null | head -1)" ]; }

apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  step "installing Debian packages: ${missing[*]}"
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

prometheus_server() {
  command -v prometheus >/dev/null && return 0
  # Debian's postinst enables and starts a system-wide prometheus on *:9090 (init script or systemd unit),
  # while paylake's stack runs its own on 127.0.0.1. A policy-rc.d answering 101 ("forbidden"), honoured by
  # invoke-rc.d and deb-systemd-invoke, keeps it from starting during the install (only when the machine
  # has no policy of its own; ours is removed afterwards); the service is then stopped (in case a policy
  # allowed it) and disabled, so no boot starts it either. --no-install-recommends leaves out the node
  # exporter, another system service.
  local sudo=""; [ "$(id -u)" -ne 0 ] && sudo="sudo"
  local policy=/usr/sbin/policy-rc.d
  if [ -e "$policy" ]; then
    apt_install prometheus
  else
    ( trap '$sudo rm -f "$policy"' EXIT
      printf '#!/bin/sh\nexit 101\n' | $sudo tee "$policy" >/dev/null && $sudo chmod 755 "$policy"
      apt_install prometheus )
  fi
  if [ -d /run/systemd/system ]; then
    $sudo systemctl disable --now prometheus.service >/dev/null 2>&1 || true
  else
    $sudo service prometheus stop >/dev/null 2>&1 || true
    $sudo update-rc.d prometheus disable >/dev/null 2>&1 || true
  fi
}

python_env() {
  if newer "$VENV/.stamp" requirements.txt pyproject.toml; then return 0; fi
  step "Python environment in .venv (requirements.txt, with uv)"
  command -v python3.11 >/dev/null || { echo "python3.11 is required" >&2; exit 1; }
  [ -x "$VENV/bin/python" ] || python3.11 -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --disable-pip-version-check uv
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" -r requirements.txt
  "$VENV/bin/uv" pip install -q --python "$VENV/bin/python" --no-deps -e .
  touch "$VENV/.stamp"
}

ferretdb() {
  if command -v mongod >/dev/null; then echo "mongod found on PATH: FerretDB not needed"; return 0; fi
  local src=paylake/stack/ferretdb out=build/bin/paylake-ferretdb work=build/ferretdb
  if newer "$out" "$src"; then return 0; fi
  command -v go >/dev/null || { echo "Go is required to build FerretDB (no mongod on PATH)" >&2; exit 1; }
  command -v patch >/dev/null || apt_install patch
  step "building FerretDB v1.24.2 (SQLite backend) from the Go module proxy, with paylake's patches"
  # The module source is copied and patched under build/: the module cache stays pristine, and the
  # patches are reviewed in the repo (see their comments): range-pushdown.patch serves date lower
  # bounds from SQLite indexes; id-in-pushdown.patch, applied on top of it, serves `_id` equality and
  # `_id: {$in: [...]}` from the _id_ index; delete-by-id.patch deletes `{_id: {$in: [<strings>]}}` with one
  # statement on that index, without reading the documents (the archive's delete); sjson-fast-decode.patch
  # parses each distinct document schema once and plain scalars directly (half of a full read's CPU);
  # range-upper-bound.patch pushes date upper bounds down too, keeping every TEXT value (arrays, strings);
  # projection-pushdown.patch has SQLite return only the top-level fields a plain inclusion projection (with
  # its filter and sort) reads, and decodes only those (the hot histogram's find); bson-untracked-iteration.patch
  # converts reply documents without an iterator each (each recorded a stack trace for leak tracking);
  # no-resource-tracking.patch turns that leak tracking (a stack, a finalizer per iterator, SQL rows and
  # transaction) off outside debug builds unless PAYLAKE_FERRETDB_TRACK_RESOURCES is set;
  # lazy-sql-debug-log.patch builds the SQL debug log records (every argument quoted, the documents'
  # JSON included) only when the debug level is on (a quarter of an insert_many's CPU);
  # delete-by-id-one-param.patch binds delete-by-id's _ids as one JSON array (json_each), not one `?`
  # each (the SQLite driver matches arguments to `?`s in quadratic time: a third of the delete's CPU);
  # fair-writes.patch queues each database's writes on a Go mutex instead of SQLite's polling busy handler
  # (a writer polling every 100 ms missed every gap between another client's back-to-back writes), and
  # inserts 1,000 documents per transaction, not 100 (a 1,000-document insert_many queued 10 times);
  # sjson-fast-split splits a stored document into its members in one pass instead of encoding/json's
  # reflection (two thirds of decoding it); find-whole-documents returns a find's documents without the
  # deep copy an empty projection made of each; jsonb-storage stores new collections' documents as SQLite's
  # binary JSON, so maintaining each index on insert and delete reads the document without parsing its text
  # (tables made before stay TEXT and keep working). go.mod takes modernc.org/sqlite v1.62.0 (FerretDB asks for
  # v1.32.0): the same SQL, 1.4x less CPU on deletes by id, 1.1x on inserts and reads (bench/ferret_ops.py).
  rm -rf "$work" && mkdir -p "$work" build/bin
  cp "$src/main.go" "$src/go.mod" "$src/go.sum" "$work/"
  local module=github.com/FerretDB/FerretDB
  (cd "$work" && go mod download "$module")
  cp -r "$(cd "$work" && go list -m -f '{{.Dir}}' "$module")" "$work/FerretDB"
  chmod -R u+w "$work/FerretDB"
  for p in range-pushdown id-in-pushdown delete-by-id sjson-fast-decode range-upper-bound projection-pushdown bson-untracked-iteration \
           no-resource-tracking lazy-sql-debug-log delete-by-id-one-param fair-writes sjson-fast-split find-whole-documents \
           jsonb-storage; do  # in this order: each edits the previous one's code
    patch -s -p1 -d "$work/FerretDB" < "$src/$p.patch"
  done
  (cd "$work" && go mod edit -replace "$module=./FerretDB" && CGO_ENABLED=0 go build -trimpath -o "$ROOT/$out" .)
}

jvm_jars() {
  if newer jars/lib/.stamp jars/pom.xml; then return 0; fi
  command -v mvn >/dev/null || { echo "Maven is required to fetch the Hadoop and Spark connector jars" >&2; exit 1; }
  step "fetching JVM jars with Maven (Hadoop 3.4.2, MongoDB Spark connector) into jars/lib"
  rm -rf jars/lib
  # Hadoop daemons get everything but the Mongo driver; Spark gets only the connector and its driver
  # (pyspark ships its own Hadoop client, which must not be shadowed).
  mvn -q -B -f jars/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
    -DexcludeGroupIds=org.mongodb,org.mongodb.spark -DoutputDirectory="$ROOT/jars/lib/hadoop"
  mvn -q -B -f jars/pom.xml dependency:copy-dependencies -DincludeScope=runtime \
    -DincludeGroupIds=org.mongodb,org.mongodb.spark -DoutputDirectory="$ROOT/jars/lib/spark"
  touch jars/lib/.stamp
}

if ! command -v redis-server >/dev/null; then
  apt_install redis-server
  # Debian's package may start a system-wide redis on 6379; paylake runs its own, so stop that one.
  (service redis-server stop || pkill -x redis-server) >/dev/null 2>&1 || true
fi
command -v chromium >/dev/null || apt_install chromium chromium-driver fonts-liberation
prometheus_server
python_env
ferretdb
jvm_jars
echo "setup: done"
