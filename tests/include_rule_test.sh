#!/usr/bin/env bash
# include_rule_test.sh — the seam between engine/ and the rest, checked on
# the source tree (docs/ARCHITECTURE.md, "Public headers"):
#
#   1. server/ and proto/ include, of engine/'s headers, only the public ones
#      (PUBLIC below);
#   2. the public headers include only each other (so including one never
#      drags an internal header, and its structs, into server/ or proto/);
#   3. engine/ includes nothing from server/ or proto/, and no HTTP library.
#
# Quoted includes are resolved the way the compiler does with this project's
# flags: the including file's own folder first, then -I. -Iengine -Iproto
# -Iserver.  An include that resolves nowhere is an error too.
#
# The checker first runs on small trees made here, one that follows the rule
# and one per kind of breach, so that the test itself is seen to fail.
set -u
cd "$(dirname "$0")/.."

# The public face of engine/, relative to engine/.  Keep in step with
# docs/ARCHITECTURE.md.
PUBLIC=(
    engine.h
    common.h
    perplexity.h
    model/model_info.h
    tokenizer/tokenizer.h
    template/chat_template.h
    sampling/sampler_params.h
    constraint/constraint.h
    constraint/json_schema.h
)

is_public() {
    local h
    for h in "${PUBLIC[@]}"; do [ "$h" = "$1" ] && return 0; done
    return 1
}

# resolve ROOT FILE INC -> prints the resolved path relative to ROOT, or nothing
resolve() {
    local root=$1 file=$2 inc=$3 d
    local own
    own=$(dirname "$file")
    for d in "$own" . engine proto server; do
        if [ -f "$root/$d/$inc" ]; then
            realpath -m --relative-to="$root" "$root/$d/$inc"
            return
        fi
    done
}

includes_of() { sed -n 's/^[[:space:]]*#[[:space:]]*include[[:space:]]*"\([^"]*\)".*/\1/p' "$1"; }

# check ROOT: prints one line per breach; exit status 1 if any.
check() {
    local root=$1 bad=0 f inc r rel
    # 1. server/ and proto/
    while IFS= read -r f; do
        rel=${f#"$root"/}
        while IFS= read -r inc; do
            r=$(resolve "$root" "$rel" "$inc")
            if [ -z "$r" ]; then
                echo "$rel: #include \"$inc\" resolves to no file"; bad=1
            elif [[ $r == engine/* ]] && ! is_public "${r#engine/}"; then
                echo "$rel: includes engine-internal header $r"; bad=1
            fi
        done < <(includes_of "$f")
    done < <(find "$root/server" "$root/proto" -name '*.[ch]' 2>/dev/null | sort)
    # 2. the public headers
    local h
    for h in "${PUBLIC[@]}"; do
        [ -f "$root/engine/$h" ] || { echo "public header engine/$h is missing"; bad=1; continue; }
        while IFS= read -r inc; do
            r=$(resolve "$root" "engine/$h" "$inc")
            if [ -z "$r" ] || [[ $r != engine/* ]] || ! is_public "${r#engine/}"; then
                echo "public header engine/$h includes non-public \"$inc\"${r:+ ($r)}"; bad=1
            fi
        done < <(includes_of "$root/engine/$h")
    done
    # 3. engine/ stays below the wire
    while IFS= read -r f; do
        rel=${f#"$root"/}
        while IFS= read -r inc; do
            r=$(resolve "$root" "$rel" "$inc")
            if [[ $r == server/* || $r == proto/* ]]; then
                echo "$rel: engine/ includes $r"; bad=1
            fi
        done < <(includes_of "$f")
        if grep -qE '^[[:space:]]*#[[:space:]]*include[[:space:]]*<(microhttpd|uv)\.h>' "$f"; then
            echo "$rel: engine/ includes an HTTP/event-loop library"; bad=1
        fi
    done < <(find "$root/engine" -name '*.[ch]' | sort)
    return $bad
}

n=0; failed=0
report() { # report OK NAME [DETAIL]
    n=$((n + 1))
    if [ "$1" = 1 ]; then echo "ok $n - $2"; else echo "not ok $n - $2"; failed=$((failed + 1)); fi
    [ -n "${3:-}" ] && sed 's/^/# /' <<<"$3"
    return 0
}

# ---- the checker on made-up trees -------------------------------------------------------
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mk() { mkdir -p "$(dirname "$1")"; printf '%s\n' "${@:2}" > "$1"; }
fixture() { # a tree that follows the rule
    local t=$1
    rm -rf "$t"
    for h in "${PUBLIC[@]}"; do mk "$t/engine/$h" '#include "common.h"'; done
    mk "$t/engine/common.h" '/* nothing */'
    mk "$t/engine/model/model.h" '#include "model/model_info.h"'
    mk "$t/engine/model/model.c" '#include "model.h"' '#include "tokenizer/tokenizer.h"'
    mk "$t/proto/proto.h" '#include "sampling/sampler_params.h"'
    mk "$t/server/server.h" '#include "engine.h"' '#include "proto.h"' '#include "template/chat_template.h"'
    mk "$t/server/main.c" '#include "server.h"' '#include <stdio.h>'
}
fixture "$tmp/good"
out=$(check "$tmp/good"); rc=$?
report $([ $rc -eq 0 ] && echo 1 || echo 0) "a tree that keeps the rule passes" "$out"

fixture "$tmp/b1"; mk "$tmp/b1/server/main.c" '#include "server.h"' '#include "model/model.h"'
out=$(check "$tmp/b1"); rc=$?
report $([ $rc -ne 0 ] && grep -q 'server/main.c: includes engine-internal header engine/model/model.h' <<<"$out" && echo 1 || echo 0) \
    "server/ including an internal header is caught" "$out"

fixture "$tmp/b2"; mk "$tmp/b2/proto/proto.h" '#include "../engine/model/model.h"'
out=$(check "$tmp/b2"); rc=$?
report $([ $rc -ne 0 ] && grep -q 'proto/proto.h: includes engine-internal header engine/model/model.h' <<<"$out" && echo 1 || echo 0) \
    "proto/ reaching an internal header by a relative path is caught" "$out"

fixture "$tmp/b3"; mk "$tmp/b3/engine/tokenizer/tokenizer.h" '#include "model/model.h"'
out=$(check "$tmp/b3"); rc=$?
report $([ $rc -ne 0 ] && grep -q 'public header engine/tokenizer/tokenizer.h includes non-public' <<<"$out" && echo 1 || echo 0) \
    "a public header including an internal one is caught" "$out"

fixture "$tmp/b4"; mk "$tmp/b4/engine/model/model.c" '#include "proto.h"' '#include <microhttpd.h>'
out=$(check "$tmp/b4"); rc=$?
report $([ $rc -ne 0 ] && grep -q 'engine/ includes proto/proto.h' <<<"$out" && grep -q 'HTTP' <<<"$out" && echo 1 || echo 0) \
    "engine/ including proto/ or libmicrohttpd is caught" "$out"

fixture "$tmp/b5"; mk "$tmp/b5/server/main.c" '#include "nowhere.h"'
out=$(check "$tmp/b5"); rc=$?
report $([ $rc -ne 0 ] && grep -q 'resolves to no file' <<<"$out" && echo 1 || echo 0) \
    "an include that resolves nowhere is caught" "$out"

# ---- the real tree ----------------------------------------------------------------------
out=$(check "$PWD"); rc=$?
report $([ $rc -eq 0 ] && echo 1 || echo 0) "server/ and proto/ see engine/ only through its public headers" "$out"

echo "1..$n"
[ "$failed" -eq 0 ]
