/* cold_dlopen.c - loads cold-curl-module.so as a host loads a plugin
 * (the module linked -z now, dlopen RTLD_LAZY | RTLD_LOCAL from a program
 * that links only libc, as the loader opens such a plugin) and makes its
 * one request: the cold-start floor for a plugin built on libcurl.  Never a
 * test.
 * Usage: cold-dlopen MODULE URL CA_FILE TOKEN BODY_BYTES */
#include <dlfcn.h>
#include <stdio.h>

int main(int argc, char **argv)
{
    if (argc != 6) {
        fprintf(stderr, "usage: cold-dlopen MODULE URL CA_FILE TOKEN BODY_BYTES\n");
        return 2;
    }
    void *h = dlopen(argv[1], RTLD_LAZY | RTLD_LOCAL);
    int (*req)(char **) = h ? (int (*)(char **))dlsym(h, "cold_request") : NULL;
    if (req == NULL) {
        fprintf(stderr, "cold-dlopen: %s\n", dlerror());
        return 1;
    }
    return req(argv + 1);
}
