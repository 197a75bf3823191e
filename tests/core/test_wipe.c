/* test_wipe.c - wipe() clears exactly the bytes it is given, at every
 * length and alignment a body can have (its 128-byte loop, its 16-byte and
 * byte tails, and the small-buffer path), and nothing around them. */
#include <stdio.h>
#include <string.h>

#include "core/wipe.h"

int main(void)
{
    static unsigned char buf[8192 + 128];
    int failures = 0;
    static const size_t lens[] = {0,   1,   15,  63,  64,   65,   127,  128,  129,  143,
                                  144, 255, 256, 257, 271,  272,  300,  383,  384,  385,
                                  399, 400, 4095, 4096, 4097, 4111, 4112, 4567, 8192};
    for (size_t li = 0; li < sizeof lens / sizeof lens[0]; li++)
        for (size_t off = 0; off < 17; off++) {
            size_t n = lens[li];
            memset(buf, 0xa5, sizeof buf);
            wipe(buf + 32 + off, n);
            size_t bad = 0;
            for (size_t i = 0; i < sizeof buf; i++) {
                int inside = i >= 32 + off && i < 32 + off + n;
                bad += inside ? buf[i] != 0 : buf[i] != 0xa5;
            }
            if (bad != 0) {
                printf("FAIL wipe of %zu bytes at offset %zu: %zu wrong bytes\n", n, off, bad);
                failures++;
            }
        }
    printf("%s wipe_clears_exactly_its_bytes\n", failures ? "FAIL" : "ok");
    return failures != 0;
}
