#!/bin/sh
# ctgi-entrypoint — the image's entry point.
#
#   (no arguments)          ctgi serve, configured by the environment
#                           (MODEL_ID, PORT, ...: ctgi serve --help)
#   --option ...            ctgi serve --option ...
#   serve ...               ctgi serve ...
#   COMMAND ...             ctgi COMMAND ... (generate, tokenize, health, ...)
#
# serve listens on 0.0.0.0 unless --hostname is given: the HOSTNAME variable
# that serve would otherwise read is the container's name, set by the
# runtime.  `exec` makes ctgi PID 1, so SIGTERM reaches it directly and
# starts its graceful shutdown.
set -eu

if [ $# -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- serve "$@"
fi
if [ "$1" = serve ]; then
    shift
    for a in "$@"; do
        case $a in --hostname | --hostname=*) exec /usr/local/bin/ctgi serve "$@" ;; esac
    done
    exec /usr/local/bin/ctgi serve --hostname 0.0.0.0 "$@"
fi
exec /usr/local/bin/ctgi "$@"
