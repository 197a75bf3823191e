/* cold_curl.c - the floors for cold start: the plugin's first request (same
 * URL, CA file and headers) made once by code that links libcurl and
 * nothing else, built three times:
 *   cold-curl              a program (libcurl loaded at exec);
 *   cold-curl-module.so    the same request as a module that cold-dlopen
 *                          loads as the loader loads vap_openemr.so (linked
 *                          -z now, dlopen RTLD_LAZY | RTLD_LOCAL): what any
 *                          plugin built on libcurl pays before its own
 *                          first line runs;
 *   cold-curl-module-libs.so  the same, also mapping GnuTLS, Jansson and
 *                          libsodium (unused) as the plugin does.
 * fetch-bench's cold-curl mode runs inside a binary that also carries the
 * plugin's libraries, which a bare libcurl program would not load.  Never a
 * test: for hyperfine and callgrind.
 * Usage: cold-curl URL CA_FILE TOKEN BODY_BYTES */
#include <curl/curl.h>
#include <stdio.h>
#include <stdlib.h>

static size_t sink(char *p, size_t s, size_t n, void *ud)
{
    (void)p;
    *(size_t *)ud += s * n;
    return s * n;
}

int cold_request(char **argv);

__attribute__((visibility("default"))) int cold_request(char **argv)
{
    char auth[4096];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", argv[3]);
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        return 1;
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "User-Agent: vap-openemr");
    h = curl_slist_append(h, "Accept: application/json");
    h = curl_slist_append(h, auth);
    size_t got = 0;
    long code = 0;
    curl_easy_setopt(c, CURLOPT_URL, argv[1]);
    curl_easy_setopt(c, CURLOPT_CAINFO, argv[2]);
    curl_easy_setopt(c, CURLOPT_CAPATH, NULL);
    curl_easy_setopt(c, CURLOPT_HTTP_VERSION, (long)CURL_HTTP_VERSION_1_1);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &got);
    int ok = curl_easy_perform(c) == CURLE_OK &&
             curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code) == CURLE_OK && code == 200 &&
             got == (size_t)strtoul(argv[4], NULL, 10);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    curl_global_cleanup();
    return ok ? 0 : 1;
}

#ifndef COLD_MODULE
int main(int argc, char **argv)
{
    if (argc != 5) {
        fprintf(stderr, "usage: cold-curl URL CA_FILE TOKEN BODY_BYTES\n");
        return 2;
    }
    return cold_request(argv);
}
#endif
