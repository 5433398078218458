/*
 * cli_opts.c — the option reader used by every subcommand (see cli.h).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

void cli_opts_init(cli_opts *o, const char *cmd, int argc, char **argv) {
    *o = (cli_opts){argc, argv, 0, NULL, NULL, cmd, false};
}

void cli_fail(cli_opts *o, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "ctgi %s: ", o->cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    o->error = true;
}


bool cli_next(cli_opts *o) {
    if (o->error || ++o->i >= o->argc) return false;
    const char *a = o->argv[o->i];
    o->name = NULL;
    o->value = NULL;
    if (strncmp(a, "--", 2) == 0 && a[2]) {
        o->name = a + 2;
        const char *eq = strchr(o->name, '=');
        if (eq) o->value = eq + 1;
    }
    return true;
}

bool cli_is(const cli_opts *o, const char *name) {
    if (!o->name) return false;
    size_t n = strlen(name);
    return strncmp(o->name, name, n) == 0 && (o->name[n] == '\0' || o->name[n] == '=');
}

const char *cli_value(cli_opts *o) {
    if (o->value) return o->value;
    if (o->i + 1 >= o->argc) {
        cli_fail(o, "option --%s needs a value", o->name);
        return NULL;
    }
    return o->argv[++o->i];
}

bool cli_int(cli_opts *o, long lo, long hi, long *out) {
    const char *name = o->name, *v = cli_value(o);
    if (!v) return false;
    char *end;
    errno = 0;
    long x = strtol(v, &end, 10);
    if (errno || *end || end == v || x < lo || x > hi) {
        cli_fail(o, "--%.*s: '%s' is not an integer in [%ld, %ld]", (int)strcspn(name, "="), name, v, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool cli_float(cli_opts *o, double lo, double hi, double *out) {
    const char *name = o->name, *v = cli_value(o);
    if (!v) return false;
    char *end;
    errno = 0;
    double x = strtod(v, &end);
    if (errno || *end || end == v || !(x >= lo && x <= hi)) {
        cli_fail(o, "--%.*s: '%s' is not a number in [%g, %g]", (int)strcspn(name, "="), name, v, lo, hi);
        return false;
    }
    *out = x;
    return true;
}

bool cli_u64(cli_opts *o, uint64_t *out) {
    const char *name = o->name, *v = cli_value(o);
    if (!v) return false;
    char *end;
    errno = 0;
    unsigned long long x = strtoull(v, &end, 10);
    if (errno || *end || end == v || v[0] == '-') {
        cli_fail(o, "--%.*s: '%s' is not an unsigned 64-bit integer", (int)strcspn(name, "="), name, v);
        return false;
    }
    *out = x;
    return true;
}

void cli_unknown(cli_opts *o) {
    if (o->name) cli_fail(o, "unknown option --%s (see ctgi %s --help)", o->name, o->cmd);
    else cli_fail(o, "unexpected argument '%s'", o->argv[o->i]);
}
