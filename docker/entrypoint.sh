#!/bin/sh
# Container entry point: run ctgi with the given arguments, one process,
# signals delivered to it directly (exec).
set -e
exec /usr/local/bin/ctgi "$@"
