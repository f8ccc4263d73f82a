#!/usr/bin/env bash
# Installs what scoring on Apache Spark needs, only where that engine is used:
# Java from Debian's OpenJDK 17 (headless JRE; nothing downloaded from elsewhere) and
# Spark itself from PyPI's pyspark, as the project's [spark] extra.
#   bash scripts/install-spark.sh [path/to/venv/bin]
set -euo pipefail
BIN="${1:-.venv/bin}"
if ! command -v java >/dev/null || ! java -version 2>&1 | grep -q '"17\.'; then
  echo "installing: openjdk-17-jre-headless"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends openjdk-17-jre-headless >/dev/null
fi
if ! "$BIN/python" -c "import pyspark" 2>/dev/null; then
  "$BIN/pip" install -q -e '.[spark]'
fi
"$BIN/python" -c "import pyspark; print('pyspark', pyspark.__version__)"
java -version 2>&1 | head -1
