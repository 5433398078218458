/*
 * cli_health.c — `ctgi health [--url URL] [--timeout SECONDS]`: ask a running
 * server whether it is ready.  Exit 0 when GET /health answers 200, 1 when it
 * answers anything else or cannot be reached (one line on stderr says why),
 * 2 on a usage error.
 *
 * It is the container's HEALTHCHECK (the runtime image has no curl): the
 * default URL is http://127.0.0.1:$PORT/health, PORT being the variable
 * `ctgi serve` reads its port from (8080 when unset); https:// when
 * SSL_CERTFILE is set, as `ctgi serve` then speaks only HTTPS.  That probe
 * of our own process on the loopback does not verify the certificate (it
 * names the public host, not 127.0.0.1).
 */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

#define HEALTH_URL_MAX 1024

static const char HEALTH_USAGE[] =
    "usage: ctgi health [--url URL] [--timeout SECONDS]\n"
    "\n"
    "Exit 0 if GET URL answers 200 (the server is up and its model loaded), 1 otherwise.\n"
    "  --url URL          default http://127.0.0.1:$PORT/health ($PORT from the environment, else 8080;\n"
    "                     https:// without certificate checks when SSL_CERTFILE is set)\n"
    "  --timeout SECONDS  give up after this long (default 5)\n";

/* Discard the body: only the status matters. */
static size_t health_sink(char *p, size_t size, size_t n, void *ud) {
    (void)p;
    (void)ud;
    return size * n;
}

/* The default URL from $PORT (https when SSL_CERTFILE is set: *tls);
 * false + message if PORT is not a port. */
static bool health_default_url(char *out, size_t cap, bool *tls) {
    const char *port = getenv("PORT");
    long p = 8080;
    if (port && *port) {
        char *end;
        p = strtol(port, &end, 10);
        if (*end || p < 1 || p > 65535) {
            fprintf(stderr, "ctgi health: environment variable PORT: '%s' is not a port in [1, 65535]\n", port);
            return false;
        }
    }
    const char *cert = getenv("SSL_CERTFILE");
    *tls = cert && *cert;
    snprintf(out, cap, "%s://127.0.0.1:%ld/health", *tls ? "https" : "http", p);
    return true;
}

/* GET url (own_tls: our own HTTPS on the loopback, unverified); the exit status. */
static int health_probe(const char *url, double timeout, bool own_tls) {
    CURL *h = curl_easy_init();
    if (!h) {
        fputs("ctgi health: cannot initialise libcurl\n", stderr);
        return 1;
    }
    char err[CURL_ERROR_SIZE] = "";
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_ERRORBUFFER, err);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, health_sink);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(timeout * 1000));
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    if (own_tls) {
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYPEER, 0L);
        curl_easy_setopt(h, CURLOPT_SSL_VERIFYHOST, 0L);
    }
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    if (rc != CURLE_OK) {
        fprintf(stderr, "ctgi health: %s: unreachable: %s\n", url, *err ? err : curl_easy_strerror(rc));
        return 1;
    }
    if (status != 200) {
        fprintf(stderr, "ctgi health: %s: unhealthy: HTTP %ld%s\n", url, status,
                status == 503 ? " (the model is loading, failed to load, or the server is shutting down)" : "");
        return 1;
    }
    return 0;
}

int cli_health(int argc, char **argv) {
    cli_opts o;
    cli_opts_init(&o, "health", argc, argv);
    const char *url = NULL;
    double timeout = 5;
    while (cli_next(&o)) {
        if (cli_is(&o, "help")) {
            fputs(HEALTH_USAGE, stdout);
            return 0;
        } else if (cli_is(&o, "url")) {
            url = cli_value(&o);
        } else if (cli_is(&o, "timeout")) {
            cli_float(&o, 0.001, 3600, &timeout);
        } else {
            cli_unknown(&o);
        }
    }
    if (o.error) return 2;
    char def[HEALTH_URL_MAX];
    bool own_tls = false;
    if (!url) {
        if (!health_default_url(def, sizeof def, &own_tls)) return 2;
        url = def;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        fputs("ctgi health: cannot initialise libcurl\n", stderr);
        return 1;
    }
    int rc = health_probe(url, timeout, own_tls);
    curl_global_cleanup();
    return rc;
}
